"""``yaynay import disqus|wordpress``: the fixtures under tests/fixtures/import/ hold every case,
hostile and malformed files included; threads are then read back through the public API."""

from __future__ import annotations

import io
import re
import time
import tracemalloc
from pathlib import Path

import pytest

from service import create_app
from service.core import audit
from service.core.imports import FieldChecks, ImportRefused, import_comments, read_thread_map, thread_id_of
from service.schemas import EMAIL_PATTERN, WEBSITE_PATTERN

FIXTURES = Path(__file__).parent / "fixtures" / "import"
CHECKS = FieldChecks(
    email=lambda value: re.match(EMAIL_PATTERN, value) is not None,
    website=lambda value: re.match(WEBSITE_PATTERN, value) is not None,
)


@pytest.fixture
def core(app):
    return app.extensions["yaynay"]


def run_import(core, source: str, name: str, **options):
    with open(FIXTURES / name, "rb") as stream:
        return import_comments(core, source, stream, checks=CHECKS, **options)


def public_thread(client, thread_id: str) -> list[dict]:
    response = client.get(f"/api/v1/threads/{thread_id}/comments")
    assert response.status_code == 200, response.json
    return response.json["comments"]


def test_a_thread_id_is_the_last_path_segment_made_an_id():
    assert thread_id_of("https://shop.example/2024/05/Mini_Backpacks!/") == "mini-backpacks"
    assert thread_id_of("https://shop.example/blog/cargo-pants?utm=x#c1") == "cargo-pants"
    assert thread_id_of("https://shop.example/" + "a" * 70) == "a" * 64
    assert thread_id_of("https://shop.example/" + "a" * 63 + "_b") == "a" * 63
    assert thread_id_of("https://shop.example/?p=14") == ""


def test_a_thread_map_names_threads_and_refuses_bad_rows():
    assert read_thread_map(["url,thread_id", "https://a.example/x,my-post"]) == {"https://a.example/x": "my-post"}
    with pytest.raises(ValueError, match="row 2"):
        read_thread_map(["https://a.example/x,fine", "https://a.example/y,Not An Id"])


def test_a_disqus_export_keeps_authors_dates_replies_and_statuses(core, client):
    summary = run_import(core, "disqus", "disqus.xml")
    assert summary.created == 7
    assert summary.threads == {"mini-backpacks", "cargo-pants"}
    assert summary.orphans == 1
    assert dict(summary.skipped) == {
        "deleted": 1,
        "malformed: no text": 1,
        "malformed: no valid date": 1,
        "malformed: no article URL to name the thread (give it in --map)": 1,
    }
    published = public_thread(client, "mini-backpacks")
    by_author = {comment["author"]: comment for comment in published}
    assert list(by_author) == ["Ann", "Bob", "Cleo", "Eve"]  # oldest first; spam is not published
    assert by_author["Ann"]["body"] == "Love them & their tiny pockets.\nSecond line"
    assert by_author["Ann"]["created_at"].startswith("2024-05-01T09:00:00")
    assert by_author["Bob"]["parent_id"] == by_author["Ann"]["id"]
    assert by_author["Cleo"]["parent_id"] == by_author["Bob"]["id"]  # its parent came later in the file
    assert by_author["Eve"]["parent_id"] is None  # the orphan of a deleted comment is top-level
    assert "email" not in by_author["Ann"]
    queue = {
        status: core.store.moderation.queue(status, thread_id=None, limit=50, cursor=None).items
        for status in ("pending", "spam")
    }
    assert [comment.author for comment in queue["spam"]] == ["Spammer"]
    assert [comment.author for comment in queue["pending"]] == ["Fay"]
    assert public_thread(client, "cargo-pants")[0]["author"] == "Anonymous"


def test_imported_emails_are_indexed_for_privacy_requests_and_bad_ones_dropped(core, client):
    from service.core import privacy

    run_import(core, "disqus", "disqus.xml")
    found = privacy.comments_by_email(core, "ANN@example.com")
    assert [comment.author for comment in found] == ["Ann"]
    bob = next(comment for comment in public_thread(client, "mini-backpacks") if comment["author"] == "Bob")
    assert core.store.comments.get(bob["id"]).email is None  # "not an email" was not kept


def test_importing_the_same_file_again_adds_nothing(core, client):
    run_import(core, "disqus", "disqus.xml")
    before = public_thread(client, "mini-backpacks")
    again = run_import(core, "disqus", "disqus.xml")
    assert (again.created, again.already_imported, again.orphans) == (0, 7, 0)
    assert public_thread(client, "mini-backpacks") == before


def test_check_finds_an_imported_thread_whose_indexes_a_crash_left_out(settings):
    # Kept forever: these comments are years old, past the default retention of the queues.
    settings["DECIDED_RETENTION_DAYS"] = 0
    core = create_app(settings).extensions["yaynay"]
    run_import(core, "disqus", "disqus.xml")
    assert list(audit.check_everything(core, audit.Summary())) == []
    for queue in core.store.keys.queues("approved"):  # as if the pipeline after the script was lost
        core.store.redis.delete(queue)
    repaired = list(audit.check_everything(core, audit.Summary(), repair=True))
    assert len(repaired) == 5 and all(problem.repaired for problem in repaired)
    assert list(audit.check_everything(core, audit.Summary())) == []


def test_a_wordpress_export_keeps_statuses_and_skips_trash_and_pingbacks(core, client):
    summary = run_import(core, "wordpress", "wordpress.xml")
    assert summary.created == 5
    assert summary.orphans == 1
    assert dict(summary.skipped) == {
        "deleted": 1,
        "pingback or trackback": 1,
        "malformed: no valid date": 1,
        "malformed: no article URL to name the thread (give it in --map)": 1,
    }
    published = public_thread(client, "mini-backpacks")
    assert [comment["author"] for comment in published] == ["Ann", "Bob", "Eve"]
    ann, bob, eve = published
    assert ann["website"] == "https://ann.example"
    assert bob["website"] is None  # javascript: is not an http(s) address
    assert bob["parent_id"] == ann["id"]
    assert eve["parent_id"] is None
    assert core.store.comments.page_urls(["mini-backpacks"]) == {
        "mini-backpacks": "https://shop.example/2024/05/mini-backpacks/"
    }


def test_a_map_names_the_thread_of_a_url_without_a_slug(core, client):
    with open(FIXTURES / "map.csv", encoding="utf-8") as rows:
        mapping = read_thread_map(rows)
    summary = run_import(core, "wordpress", "wordpress.xml", thread_map=mapping)
    assert "default-permalink" in summary.threads
    assert public_thread(client, "default-permalink")[0]["body"] == "On a post without a slug"


@pytest.mark.parametrize(
    ("source", "name", "message"),
    [
        ("disqus", "billion_laughs.xml", "refused: the file declares entities"),
        ("wordpress", "external_entity.xml", "refused: the file declares entities"),
        ("disqus", "malformed.xml", "malformed XML: mismatched tag"),
        # An external DTD is never fetched, so what it would define stays undefined.
        ("disqus", "external_dtd.xml", "malformed XML: undefined entity &remote;"),
    ],
)
def test_hostile_and_malformed_files_are_refused_in_one_line(core, source, name, message):
    with pytest.raises(ImportRefused) as refused:
        run_import(core, source, name)
    assert refused.value.message.startswith(message)
    assert "\n" not in refused.value.message


def test_comments_read_before_a_malformed_part_are_kept(core, client):
    with pytest.raises(ImportRefused, match=r"imported before it: 1"):
        run_import(core, "disqus", "malformed.xml")
    assert [comment["body"] for comment in public_thread(client, "fine")] == ["Stored before the break"]


def test_huge_fields_are_cut_to_the_configured_lengths(core, client):
    lengths = core.policy.comment_lengths
    xml = DISQUS_ONE_POST.format(name="N" * (lengths.author + 50), message="word " * lengths.body)
    summary = import_comments(core, "disqus", io.BytesIO(xml.encode()), checks=CHECKS)
    assert (summary.created, summary.shortened) == (1, 1)
    (stored,) = public_thread(client, "big")
    assert len(stored["author"]) == lengths.author
    assert len(stored["body"]) <= lengths.body


def test_progress_counts_every_byte(core):
    seen = []
    path = FIXTURES / "disqus.xml"
    with open(path, "rb") as stream:
        import_comments(core, "disqus", stream, checks=CHECKS, progress=seen.append)
    assert sum(seen) == path.stat().st_size


DISQUS_ONE_POST = """<?xml version="1.0"?>
<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">
<thread dsq:id="1"><link>https://shop.example/big</link></thread>
<post dsq:id="2"><message>{message}</message><createdAt>2024-05-01T09:00:00Z</createdAt>
<author><name>{name}</name></author><thread dsq:id="1"/></post>
</disqus>"""


def generated_disqus(comments: int, threads: int = 200) -> bytes:
    """A Disqus export of ``comments`` comments over ``threads`` threads, every third one a reply."""
    parts = ['<?xml version="1.0"?>\n<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">']
    parts += [f'<thread dsq:id="t{n}"><link>https://shop.example/post-{n}/</link></thread>' for n in range(threads)]
    for n in range(comments):
        parent = f'<parent dsq:id="{n - threads}"/>' if n % 3 == 2 and n >= threads else ""
        parts.append(
            f'<post dsq:id="{n}"><message><![CDATA[<p>Comment number {n} on this post.</p>]]></message>'
            f"<createdAt>2024-05-01T09:00:00Z</createdAt><author><name>Reader {n % 97}</name>"
            f"<email>reader{n % 97}@example.com</email></author>"
            f'<thread dsq:id="t{n % threads}"/>{parent}</post>'
        )
    parts.append("</disqus>")
    return "\n".join(parts).encode()


def test_a_generated_export_imports_with_every_reply_linked(core):
    started = time.perf_counter()
    summary = import_comments(core, "disqus", io.BytesIO(generated_disqus(2000)), checks=CHECKS)
    assert (summary.created, summary.orphans, sum(summary.skipped.values())) == (2000, 0, 0)
    assert len(summary.threads) == 200
    assert time.perf_counter() - started < 30


def test_memory_stays_flat_however_big_the_file(core, tmp_path):
    """Streaming: a file five times bigger needs no more memory (about 2.5 MB either way,
    measured with 5,000 and 40,000 comments; most of it is one batch of 500 in flight)."""
    peaks = []
    for comments in (600, 3000):
        path = tmp_path / f"{comments}.xml"
        path.write_bytes(generated_disqus(comments))
        core.store.redis.flushdb()
        tracemalloc.start()
        with open(path, "rb") as stream:
            summary = import_comments(core, "disqus", stream, checks=CHECKS)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert summary.created == comments
    assert peaks[1] < peaks[0] * 1.5, peaks


def test_the_command_prints_a_summary_with_the_rate_and_refuses_hostile_files(yaynay):
    first = yaynay("import", "disqus", str(FIXTURES / "disqus.xml"))
    assert first.returncode == 0, first.stderr
    assert re.match(r"imported 7 comments into 2 threads \([0-9,]+ comments/s\); 0 already imported", first.stdout)
    assert "skipped 4\n" in first.stdout and "1\tdeleted" in first.stdout
    again = yaynay("import", "disqus", str(FIXTURES / "disqus.xml"))
    assert again.stdout.startswith("imported 0 comments into 2 threads")
    hostile = yaynay("import", "disqus", str(FIXTURES / "billion_laughs.xml"))
    assert hostile.returncode == 1
    assert hostile.stderr.strip().splitlines()[-1].startswith("Error: refused: the file declares entities")
    bad_map = yaynay("import", "wordpress", str(FIXTURES / "wordpress.xml"), "--map", str(FIXTURES / "disqus.xml"))
    assert bad_map.returncode == 2 and "--map" in bad_map.stderr
