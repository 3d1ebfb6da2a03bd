#!/usr/bin/env python3
"""trace-wakeups.py TRACE MSGS: what a Go process's scheduler did per message.

Reads a runtime trace (runtime/trace; bench/irc's TestIRCBenchFloor writes one
per burst for the bridge and the floor program with BENCH_IRC_FLOOR_TRACE=dir)
through `go tool trace -d=parsed` and prints, divided by MSGS: goroutine
wake-ups (Waiting->Runnable) by the first non-runtime frame where the woken
goroutine had blocked, goroutines created by where, Ps started, and system
calls by caller (modernc.org/sqlite's by its VFS function: _unixWrite is one
write(2) of a WAL frame header or page). Used for issue 11's accounting.
"""
import sys, re, collections, subprocess
tr, msgs = sys.argv[1], int(sys.argv[2])
out = subprocess.run(["go","tool","trace","-d=parsed",tr],capture_output=True,text=True).stdout
wakes = collections.Counter(); creates = collections.Counter(); procs=0; sysc=collections.Counter()
blocked={}
ev=None; mode=None; frames={'Stack':[], 'TransitionStack':[]}
def skip(f):
    return f.startswith(('runtime.','internal/','sync.','syscall.','time.Sleep','runtime/','context.','net.(*netFD)','net.(*conn)','bufio.','io.','crypto/tls','modernc.org/libc.','modernc.org/sqlite/lib._seekAndRead','modernc.org/sqlite/lib._seekAndWrite','modernc.org/sqlite/lib._osRead','modernc.org/sqlite/lib._osWrite','modernc.org/sqlite/lib._robust')) or f==''
def first(fs):
    k=[f for f in fs if not skip(f)]
    return k[0] if k else (fs[0] if fs else '')
def flush():
    global procs
    if ev is None or 'StateTransition' not in ev: return
    m=re.search(r'GoID=(\d+)',ev)
    g=m.group(1) if m else None
    st=frames['TransitionStack'] or frames['Stack']
    if '->Waiting' in ev and g:
        blocked[g]=first(frames['TransitionStack'] if frames['TransitionStack'] else frames['Stack'])
    if 'Waiting->Runnable' in ev and g and 'Undetermined' not in ev:
        wakes[blocked.get(g,'?') or '(no stack)']+=1
    elif 'NotExist->Runnable' in ev:
        creates[first(frames['TransitionStack']) or first(frames['Stack']) or '?']+=1
    elif 'ProcID=' in ev and 'Idle->Running' in ev:
        procs+=1
    elif 'Running->Syscall' in ev:
        sysc[first(frames['TransitionStack'] or frames['Stack']) or '?']+=1
for line in out.splitlines():
    if line.startswith('M='):
        flush(); ev=line; frames={'Stack':[], 'TransitionStack':[]}; mode=None
    elif line.startswith('Stack='): mode='Stack'
    elif line.startswith('TransitionStack='): mode='TransitionStack'
    elif line.startswith('\t') and mode and not line.startswith('\t\t'):
        frames[mode].append(line.strip().split(' @ ')[0])
flush()
tw=sum(wakes.values())
print(f"goroutine wake-ups {tw/msgs:.2f}/msg; goroutines created {sum(creates.values())/msgs:.2f}/msg; P starts {procs/msgs:.2f}/msg; syscalls {sum(sysc.values())/msgs:.2f}/msg")
print("wake-ups by where the woken goroutine had blocked (per msg):")
for k,v in wakes.most_common(16): print(f"  {v/msgs:6.2f}  {k}")
print("goroutines created at (per msg):")
for k,v in creates.most_common(6): print(f"  {v/msgs:6.2f}  {k}")
print("syscalls by caller (per msg):")
for k,v in sysc.most_common(10): print(f"  {v/msgs:6.2f}  {k}")
