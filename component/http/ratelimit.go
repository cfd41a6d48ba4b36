package http

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// KeyFunc names the client a request comes from, for rate limiting.
type KeyFunc func(r *http.Request) string

// ClientIP is the default KeyFunc: the peer's IP address. Behind a proxy,
// pass a KeyFunc that reads the header your proxy sets (only a trusted
// proxy's header is safe to believe).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// maxRateLimitKeys bounds the limiters kept in memory; the least recently
// seen clients are forgotten first (and start again with a full bucket).
const maxRateLimitKeys = 10000

type rateLimiter struct {
	limit    rate.Limit
	burst    int
	key      KeyFunc
	limiters *lru.Cache[string, *rate.Limiter]
}

// WithRateLimit limits each client to perSecond requests on average with
// bursts of burst (a token bucket per client). Clients are told apart by
// key (ClientIP when nil). A request over the limit gets 429 with
// Retry-After.
func WithRateLimit(perSecond float64, burst int, key KeyFunc) RouteOption {
	return func(r *Route) error {
		if perSecond <= 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) {
			return r.optionError(fmt.Errorf("WithRateLimit: rate %v must be positive", perSecond))
		}
		if burst < 1 {
			return r.optionError(fmt.Errorf("WithRateLimit: burst %d must be at least 1", burst))
		}
		if key == nil {
			key = ClientIP
		}
		c, err := lru.New[string, *rate.Limiter](maxRateLimitKeys)
		if err != nil {
			return r.optionError(fmt.Errorf("WithRateLimit: %w", err))
		}
		r.rateLimit = &rateLimiter{limit: rate.Limit(perSecond), burst: burst, key: key, limiters: c}
		return nil
	}
}

func (rl *rateLimiter) limiter(key string) *rate.Limiter {
	if l, ok := rl.limiters.Get(key); ok {
		return l
	}
	l := rate.NewLimiter(rl.limit, rl.burst)
	// Another request of the same client may have raced us here: keep
	// whichever limiter got in first.
	if prev, ok, _ := rl.limiters.PeekOrAdd(key, l); ok {
		return prev
	}
	return l
}

func (rl *rateLimiter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		res := rl.limiter(rl.key(r)).ReserveN(now, 1)
		if delay := res.DelayFrom(now); delay > 0 {
			res.CancelAt(now)
			secs := int(math.Ceil(delay.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			WriteProblem(w, r, http.StatusTooManyRequests, "rate limit exceeded; retry later")
			return
		}
		next.ServeHTTP(w, r)
	})
}
