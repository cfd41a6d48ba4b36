// Package env reads the demo services' settings from the environment, with
// the defaults of the demo chain, so each service also runs on its own.
package env

import "os"

// Get returns the variable key, or def when it is unset or empty.
func Get(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
