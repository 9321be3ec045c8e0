--!include repeat_guard
-- Look for the comment a submission repeats, without writing anything.
--
-- KEYS[1] idempotency key of this client   KEYS[2] duplicate guard of this client and text
-- ARGV[1] now   ARGV[2] idempotency TTL (0 without an Idempotency-Key)   ARGV[3] duplicate window
--
-- Returns the key of the comment repeated, or false.
return repeat_of(KEYS[1], tonumber(ARGV[2]), KEYS[2], tonumber(ARGV[3]), ARGV[1]) or false
