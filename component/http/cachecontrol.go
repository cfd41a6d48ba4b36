package http

import (
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file reads Cache-Control (RFC 9111 section 5.2) for the route cache:
// what a request asks of the cache, and what a response allows it.

// requestDirectives is the request's Cache-Control, clamped to the route's
// bounds.
type requestDirectives struct {
	noStore, noCache, onlyIfCached bool
	maxAge, minFresh               time.Duration // -1 when absent
}

// directives yields the Cache-Control directives of h, names in lower case
// and values as sent.
func directives(h http.Header) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, v := range h.Values("Cache-Control") {
			for v != "" {
				var part string
				part, v, _ = strings.Cut(v, ",")
				name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
				if !yield(strings.ToLower(strings.TrimSpace(name)), val) {
					return
				}
			}
		}
	}
}

// setSeconds sets *d from a delta-seconds value, and leaves a malformed one
// unset.
func setSeconds(d *time.Duration, val string) {
	if s, ok := deltaSeconds(val); ok {
		*d = s
	}
}

func parseRequestCC(h http.Header, cfg CacheConfig) requestDirectives {
	d := requestDirectives{maxAge: -1, minFresh: -1}
	for name, val := range directives(h) {
		switch name {
		case "no-store":
			d.noStore = true
		case "no-cache":
			d.noCache = true
		case "only-if-cached":
			d.onlyIfCached = true
		case "max-age":
			setSeconds(&d.maxAge, val)
		case "min-fresh":
			setSeconds(&d.minFresh, val)
		}
	}
	if len(h["Cache-Control"]) == 0 && strings.EqualFold(h.Get("Pragma"), "no-cache") {
		d.noCache = true // HTTP/1.0 clients
	}
	if d.noCache && cfg.MinAge > 0 {
		d.noCache, d.maxAge = false, cfg.MinAge
	}
	if d.maxAge >= 0 && d.maxAge < cfg.MinAge {
		d.maxAge = cfg.MinAge
	}
	if d.minFresh > cfg.MaxFresh {
		d.minFresh = cfg.MaxFresh
	}
	return d
}

func deltaSeconds(v string) (time.Duration, bool) {
	v = strings.Trim(strings.TrimSpace(v), `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	const maxSecs = int64(1<<31 - 1) // RFC 9111: larger values mean "forever"
	return time.Duration(min(n, maxSecs)) * time.Second, true
}

// responseCC is what the handler's Cache-Control says about storing.
type responseCC struct {
	noStore, private, noCache, public, mustRevalidate bool
	maxAge, sMaxAge                                   time.Duration // -1 when absent
}

func parseResponseCC(h http.Header) responseCC {
	d := responseCC{maxAge: -1, sMaxAge: -1}
	for name, val := range directives(h) {
		switch name {
		case "no-store":
			d.noStore = true
		case "private":
			d.private = true
		case "no-cache":
			d.noCache = true
		case "public":
			d.public = true
		case "must-revalidate", "proxy-revalidate":
			d.mustRevalidate = true
		case "max-age":
			setSeconds(&d.maxAge, val)
		case "s-maxage":
			setSeconds(&d.sMaxAge, val)
		}
	}
	return d
}

// cacheableStatus lists the statuses RFC 9110 makes heuristically
// cacheable, minus 5xx (an outage must not be replayed) and 206 (ranges
// are not stored).
func cacheableStatus(s int) bool {
	switch s {
	case http.StatusOK, http.StatusNonAuthoritativeInfo, http.StatusNoContent, http.StatusMultipleChoices,
		http.StatusMovedPermanently, http.StatusPermanentRedirect, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusGone, http.StatusRequestURITooLong:
		return true
	}
	return false
}
