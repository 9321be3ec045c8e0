-- Settling a new comment's status with what Redis knows, shared by the scripts that take
-- comments on a single node (scripts.py prepends this file where a script says
-- `--!include settle`). The blocklist, bans and content check decided before (in the
-- process, with its cached lists); the surge hold and trusted authors are decided here.

-- The status of a new comment and why it is held ('' when it is not): when `settle` is
-- false a spam tool decided `status` already; else the surge hold (`surge` comments this
-- hour against `surge_level`) comes first, then trust (`approvals` in a row of its author
-- against `trusted_after`, 0 off), which only publishes what would wait.
local function settled_status(status, held_reason, settle, surge, surge_level, approvals, trusted_after)
  if not settle then
    return status, held_reason
  end
  if surge > surge_level then
    return 'pending', 'surge'
  end
  if trusted_after > 0 and status == 'pending' and approvals >= trusted_after then
    return 'approved', ''
  end
  return status, held_reason
end
