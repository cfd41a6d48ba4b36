// Package option applies functional options the same way in every Patron
// package: in order, stopping at the first error, and refusing a nil option
// with an error instead of a nil-function panic, since constructors never
// panic on bad configuration.
package option

import "fmt"

// Apply calls each option on c in order. A nil option makes it fail with an
// error prefixed with pkg (the package name, as every error of that package
// is) that says which option was nil; the first option's error is returned
// as it is, since options word their own errors.
func Apply[C any, O ~func(*C) error](pkg string, c *C, opts []O) error {
	for i, o := range opts {
		if o == nil {
			return fmt.Errorf("%s: option %d of %d is nil", pkg, i+1, len(opts))
		}
		if err := o(c); err != nil {
			return err
		}
	}
	return nil
}
