package faults

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Kill sends SIGKILL to the process pid, as a crash or the OOM killer
// would, and waits until it is gone; it fails the test if there is no such
// process or it is still there after 5 s. A child of the test process
// stays a zombie until it is waited for (exec.Cmd.Wait); Kill counts a
// zombie as gone.
func Kill(t testing.TB, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("kill: bad pid %d", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("kill -9 %d: still running after 5s", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gone: no process pid (signal 0 finds none), or only its zombie is left.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	// /proc/PID/stat: "pid (comm) S ...", comm may contain spaces and ")".
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false // gone since, or no /proc: the next signal 0 tells
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// GroupMembers lists the live (not zombie) processes of process group
// pgid, from /proc: what is left of a plugin's group after it was stopped.
func GroupMembers(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and ")".
		rest := string(b)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			out = append(out, pid)
		}
	}
	return out
}
