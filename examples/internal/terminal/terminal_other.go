//go:build !unix

package terminal

// Foreground does nothing where there are no process groups.
func Foreground() (restore func(), err error) { return func() {}, nil }
