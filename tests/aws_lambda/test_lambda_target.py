"""The Lambda event names a target; the shard index reaches dualmode_run_id."""

from __future__ import annotations

from typing import Any


def test_the_lambda_event_names_a_target(task_root: Any, invoke: Any) -> None:
    task_root.write(
        {
            "pytest.ini": "[pytest]\ndualmode_targets =\n    west: region=eu-west-2\n",
            "test_t.py": """
                def test_t(dualmode_settings, dualmode_run_id):
                    assert dualmode_settings.target == "west" and dualmode_settings.aws_region == "eu-west-2"
                    assert dualmode_run_id.startswith("ci-7-s2"), dualmode_run_id
            """,
        }
    )
    result = invoke({"target": "west", "shard": {"index": 2, "count": 4}, "env": {"DUALMODE_RUN_ID": "ci-7"}})
    assert result["outcome"] == "passed", result["summary"]
    bad = invoke({"target": "east", "raise_on_failure": False})
    assert bad["outcome"] == "error" and "known: west" in bad["error"]["message"]
    malformed = invoke({"target": "two words", "raise_on_failure": False})
    assert malformed["outcome"] == "error" and "event.target" in malformed["error"]["message"]


def test_the_collection_invocation_with_preflight_fails_before_any_shard(
    task_root: Any, invoke: Any, monkeypatch: Any
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Deny(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(403)
            self.send_header("x-amzn-ErrorType", "AccessDeniedException")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Deny)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        task_root.write({"test_t.py": "def test_t():\n    pass\n"})
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLAMBDAPREFLIGHT")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lambda-preflight-secret-0123")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        url = f"http://127.0.0.1:{server.server_address[1]}"
        # What `dualmode invoke -- --preflight` sends first: its collection invocation.
        result = invoke(
            {"collect_only": True, "args": ["--http-addr", url, "--preflight"], "raise_on_failure": False}
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert result["error"]["type"] == "UsageError", result["summary"]
    assert "authorisation rejected: HTTP 403 AccessDeniedException" in result["error"]["message"]
