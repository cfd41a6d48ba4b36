package patron

import (
	"fmt"
	"net"
	"strconv"
	"time"

	patronlog "github.com/patron-go/patron/observability/log"
)

// readEnv fills what no option set from the PATRON_* variables, and checks
// that the result holds together.
func (c *config) readEnv(getenv func(string) string) error {
	if v := getenv("PATRON_LOG_LEVEL"); c.logLevel == nil && v != "" {
		lvl, err := patronlog.ParseLevel(v)
		if err != nil {
			return fmt.Errorf("patron: PATRON_LOG_LEVEL=%q: %w", v, err)
		}
		c.logLevel = &lvl
	}
	c.logFormat = getenv("PATRON_LOG_FORMAT")
	if _, err := patronlog.ParseFormat(c.logFormat); err != nil {
		return fmt.Errorf("patron: PATRON_LOG_FORMAT=%q: %w", c.logFormat, err)
	}
	if !c.setOptions["addr"] {
		c.httpAddr = fmt.Sprintf(":%d", DefaultHTTPPort)
		if v := getenv("PATRON_HTTP_DEFAULT_PORT"); v != "" {
			p, err := strconv.Atoi(v)
			if err != nil || p < 0 || p > 65535 {
				return fmt.Errorf("patron: PATRON_HTTP_DEFAULT_PORT=%q: want a port number from 0 to 65535", v)
			}
			c.httpAddr = fmt.Sprintf(":%d", p)
		}
		if v := getenv("PATRON_HTTP_DEFAULT_ADDR"); v != "" {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("patron: PATRON_HTTP_DEFAULT_ADDR=%q: want host:port: %w", v, err)
			}
			c.httpAddr = v
		}
	}
	if err := c.readDebugEnv(getenv); err != nil {
		return err
	}
	var err error
	if !c.setOptions["timeout"] {
		if c.shutdownTimeout, err = envDuration(getenv, "PATRON_SHUTDOWN_TIMEOUT", DefaultShutdownTimeout, false); err != nil {
			return err
		}
	}
	if !c.setOptions["delay"] {
		if c.shutdownDelay, err = envDuration(getenv, "PATRON_SHUTDOWN_DELAY", 0, true); err != nil {
			return err
		}
	}
	return nil
}

// readDebugEnv reads where the management endpoints go.
func (c *config) readDebugEnv(getenv func(string) string) error {
	if v := getenv("PATRON_DEBUG_ADDR"); !c.setOptions["debug"] && v != "" {
		switch v {
		case "off":
			c.debugMode = debugOff
		case "service":
			c.debugMode = debugOnService
		default:
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("patron: PATRON_DEBUG_ADDR=%q: want host:port, service or off: %w", v, err)
			}
			c.debugMode, c.debugAddr = debugSeparate, v
		}
	}
	if v := getenv("PATRON_DEBUG_API_KEY"); !c.setOptions["debugkey"] && v != "" {
		c.debugAPIKey = v
	}
	if v := getenv("PATRON_ENDPOINTS_ON_DEBUG_ADDR"); !c.setOptions["endpoints"] && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("patron: PATRON_ENDPOINTS_ON_DEBUG_ADDR=%q: want true or false", v)
		}
		c.endpointsOnDebug = b
	}
	if c.endpointsOnDebug && (c.debugMode == debugOff || c.debugMode == debugOnService) {
		return fmt.Errorf("patron: /alive, /ready and /metrics cannot move to the debug address (PATRON_ENDPOINTS_ON_DEBUG_ADDR, WithEndpointsOnDebugAddr) when it is %s",
			map[debugMode]string{debugOff: "off", debugOnService: "the service port"}[c.debugMode])
	}
	return nil
}

func envDuration(getenv func(string) string, key string, def time.Duration, zeroOK bool) (time.Duration, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || (d == 0 && !zeroOK) {
		return 0, fmt.Errorf("patron: %s=%q: want a positive duration such as 30s", key, v)
	}
	return d, nil
}
