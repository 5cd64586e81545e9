package main

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// procFS reads processes from a proc file system: /proc, or a copy of
// its shape in tests.
type procFS struct{ fs procfs.FS }

func newProcFS() (procFS, error) { return openProcFS(procfs.DefaultMountPoint) }

func openProcFS(mount string) (procFS, error) {
	p, err := procfs.NewFS(mount)
	if err != nil {
		return procFS{}, fmt.Errorf("open %s: %w (bench-compare runs on Linux)", mount, err)
	}
	return procFS{p}, nil
}

// childrenCPU returns the CPU time, user and system, that the processes
// whose parent is ppid have used so far, and how many there are. A
// process that exits while it reads is not counted.
func (p procFS) childrenCPU(ppid int) (time.Duration, int, error) {
	all, err := p.fs.AllProcs()
	if err != nil {
		return 0, 0, err
	}
	var total time.Duration
	n := 0
	for _, proc := range all {
		st, err := proc.Stat()
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // gone since the listing
		}
		if err != nil {
			return 0, 0, err
		}
		if st.PPID != ppid {
			continue
		}
		total += time.Duration(st.CPUTime() * float64(time.Second))
		n++
	}
	return total, n, nil
}

// machineCPU returns the CPU time every CPU of the machine has spent
// busy so far: user, nice, system, interrupts and soft interrupts; idle,
// I/O wait and the hypervisor's steal are not counted.
func (p procFS) machineCPU() (time.Duration, error) {
	st, err := p.fs.Stat()
	if err != nil {
		return 0, err
	}
	c := st.CPUTotal
	return time.Duration((c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ) * float64(time.Second)), nil
}
