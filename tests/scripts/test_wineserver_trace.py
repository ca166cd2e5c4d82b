"""How scripts/measure/wineserver_requests.py reads a WINEDEBUG=+server trace:
only the requests of the server's own process count (its first thread, whose
init_first_thread reply opens the trace, and the threads it creates in
itself), and requests per message come from two runs. Synthetic traces in
the wineserver's format (server/trace.c: "<tid>: <name>( <fields> )" for a
request, "<tid>: <name>() = <status> { <fields> }" for its reply)."""
from collections import Counter

import pytest

import wineserver_requests as script

# The server's first thread is 0124; it creates 0130 in itself, and 0140 in
# another process (a handle, not the current-process pseudo-handle); 0200 is a
# thread of another process (services.exe).
TRACE = """\
0124: init_first_thread() = 0 { pid=0120, tid=0124, server_start=1d9 (-0.1), session_id=00000001 }
0124: get_startup_info( )
0124: get_startup_info() = 0 { info_size=420, info={}, desktop=L"", title=L"" }
0200: select( flags=2, cookie=0000, timeout=+0.5000000, size=8, prev_apc=0000, result={}, data={WAIT,handles={0010}} )
0124: new_thread( process=ffffffff, access=001fffff, flags=00000000, request_fd=12, objattr={} )
0124: new_thread() = 0 { tid=0130, handle=0048 }
0130: init_thread( unix_tid=4242, reply_fd=14, wait_fd=16, teb=7ffffffa0000, entry=140001000 )
0130: init_thread() = 0 { suspend=0 }
0130: recv_socket( oob=0, async={handle=0050,event=0000,iosb=0022fe40,user=7ffffe0a9e60,apc=00000000,apc_context=00000000}, status=00000103, total=00000000 )
0130: recv_socket() = PENDING { wait=0054, options=00000020, nonblocking=0 }
0130: select( flags=2, cookie=0022f9a0, timeout=infinite, size=12, prev_apc=0000, result={}, data={WAIT,handles={0054}} )
0200: get_message( flags=00000001, get_win=00000000, get_first=00000000, get_last=ffffffff, hw_id=00000000, wake_mask=00000000, changed_mask=00000000 )
0124: new_thread( process=0060, access=001fffff, flags=00000000, request_fd=18, objattr={} )
0124: new_thread() = 0 { tid=0140, handle=0064 }
0140: init_thread( unix_tid=4343, reply_fd=20, wait_fd=22, teb=7ffffffa0000, entry=140002000 )
0130: send_socket( async={handle=0050,event=0000,iosb=0022fe40,user=7ffffe0a9e60,apc=00000000,apc_context=00000000}, status=00000000, total=00000040 )
0130: *fd* 0050 -> 23
0124: select( flags=2, cookie=0022fb10, timeout=infinite, size=8, prev_apc=0000, result={}, data={WAIT,handles={0048}} )
"""


def test_only_the_server_process_s_requests_are_counted():
    counts = script.count_server_requests(TRACE.splitlines())
    assert counts == Counter({"get_startup_info": 1, "new_thread": 2, "init_thread": 1, "recv_socket": 1,
                              "select": 2, "send_socket": 1})


def test_a_trace_that_does_not_open_with_the_server_s_first_reply_is_refused():
    shifted = TRACE.splitlines()[2:]
    with pytest.raises(script.TraceError, match="does not begin with the server's init_first_thread reply"):
        script.count_server_requests(shifted)
    with pytest.raises(script.TraceError, match="traced nothing"):
        script.count_server_requests([])


def test_requests_per_message_are_the_difference_of_two_runs_over_the_extra_messages():
    baseline = Counter({"select": 150, "recv_socket": 100, "send_socket": 100, "create_file": 40})
    measured = Counter({"select": 450, "recv_socket": 400, "send_socket": 400, "create_file": 40,
                        "get_async_result": 3})
    total, names = script.per_message(baseline, measured, 100, 400)
    assert total == pytest.approx((1293 - 390) / 300)
    assert names == {"recv_socket": 1.0, "select": 1.0, "send_socket": 1.0, "get_async_result": 0.01}
    assert list(names)[:3] == ["recv_socket", "select", "send_socket"]  # most first, then by name


def test_a_variant_is_labelled_as_its_command_line():
    assert script.Variant("iocp", ("--batch", "16", "--skip-on-success")).label == "iocp --batch 16 --skip-on-success"
    assert script.Variant("select").label == "select"
