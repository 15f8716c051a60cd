"""LangSmith compatibility: its run payloads as runlite rows (``wire``) and sending stored
traces to a LangSmith server (``push``)."""
