package http

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Authenticator decides whether a request may reach a route. It returns
// nil to let it through, an error wrapping ErrForbidden for 403, and any
// other error for 401. The error's text is not sent to the client.
type Authenticator interface {
	Authenticate(r *http.Request) error
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) error

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request) error { return f(r) }

// Errors an Authenticator returns.
var (
	ErrUnauthenticated = errors.New("http: unauthenticated")
	ErrForbidden       = errors.New("http: forbidden")
)

// WithAuth guards the route with a.
func WithAuth(a Authenticator) RouteOption {
	return func(r *Route) error {
		if a == nil {
			return r.optionError(errors.New("WithAuth: authenticator is nil"))
		}
		r.auth = a
		return nil
	}
}

// WithAPIKey guards the route with API keys, sent as "Authorization: Apikey
// <key>" or "X-API-Key: <key>".
func WithAPIKey(keys ...string) RouteOption {
	return func(r *Route) error {
		a, err := newAPIKeyAuthenticator(keys)
		if err != nil {
			return r.optionError(err)
		}
		r.auth = a
		return nil
	}
}

// APIKeyAuthenticator accepts requests carrying one of its keys.
type APIKeyAuthenticator struct {
	hashes [][sha256.Size]byte
}

// NewAPIKeyAuthenticator accepts keys (at least one, none empty). Only
// their hashes are kept, and comparing hashes makes every comparison take
// the same time whatever the lengths.
func NewAPIKeyAuthenticator(keys ...string) (*APIKeyAuthenticator, error) {
	a, err := newAPIKeyAuthenticator(keys)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return a, nil
}

func newAPIKeyAuthenticator(keys []string) (*APIKeyAuthenticator, error) {
	if len(keys) == 0 {
		return nil, errors.New("WithAPIKey: no keys")
	}
	a := &APIKeyAuthenticator{}
	for i, k := range keys {
		if strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("WithAPIKey: key %d is empty", i)
		}
		a.hashes = append(a.hashes, sha256.Sum256([]byte(k)))
	}
	return a, nil
}

// Authenticate implements Authenticator.
func (a *APIKeyAuthenticator) Authenticate(r *http.Request) error {
	key := r.Header.Get("X-API-Key")
	if key == "" {
		scheme, k, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if ok && strings.EqualFold(scheme, "Apikey") {
			key = strings.TrimSpace(k)
		}
	}
	if key == "" {
		return ErrUnauthenticated
	}
	h := sha256.Sum256([]byte(key))
	match := 0
	// Compare against every key, without an early exit, so timing does not
	// tell which key (or whether any) was close.
	for i := range a.hashes {
		match |= subtle.ConstantTimeCompare(h[:], a.hashes[i][:])
	}
	if match != 1 {
		return ErrUnauthenticated
	}
	return nil
}

func authHandler(next http.Handler, a Authenticator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := a.Authenticate(r)
		if err == nil {
			next.ServeHTTP(w, r)
			return
		}
		if errors.Is(err, ErrForbidden) {
			WriteProblem(w, r, http.StatusForbidden, "access denied")
			return
		}
		w.Header().Set("WWW-Authenticate", `Apikey realm="api"`)
		WriteProblem(w, r, http.StatusUnauthorized, "missing or invalid credentials")
	})
}
