//go:build unix

package telemetry

import "syscall"

// cpuTime is the process's user and system CPU time in nanoseconds, so that
// benchmarks can report CPU per operation, background goroutines included.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
