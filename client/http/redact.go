package http

import (
	"net/url"
	"strings"
)

// defaultRedactedQuery lists query parameters whose values are secrets: the
// semantic conventions' list (AWSAccessKeyId, Signature, sig,
// X-Goog-Signature) and the usual token and key names.
func defaultRedactedQuery() map[string]bool {
	m := map[string]bool{}
	for _, k := range []string{
		"awsaccesskeyid", "signature", "sig", "x-goog-signature", "x-amz-signature", "x-amz-credential",
		"x-amz-security-token", "access_token", "refresh_token", "id_token", "token", "auth", "authorization",
		"api_key", "apikey", "api-key", "key", "password", "passwd", "pwd", "secret", "client_secret", "code",
		"session", "sessionid", "jwt",
	} {
		m[k] = true
	}
	return m
}

// redactURL renders u for url.full without what must not reach a trace:
// user info is dropped, secret query values become REDACTED (keys and order
// are kept, so the URL still reads as sent), the fragment is dropped (it is
// never sent).
func redactURL(u *url.URL, secret map[string]bool) string {
	c := *u
	c.User = nil
	c.Fragment, c.RawFragment = "", ""
	if c.RawQuery != "" {
		c.RawQuery = redactQuery(c.RawQuery, secret)
	}
	return c.String()
}

func redactQuery(q string, secret map[string]bool) string {
	var b strings.Builder
	b.Grow(len(q))
	for i, part := range strings.Split(q, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		key, _, hasValue := strings.Cut(part, "=")
		name, err := url.QueryUnescape(key)
		if err != nil {
			name = key
		}
		if hasValue && secret[strings.ToLower(name)] {
			b.WriteString(key)
			b.WriteString("=REDACTED")
			continue
		}
		b.WriteString(part)
	}
	return b.String()
}
