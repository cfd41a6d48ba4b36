package sql

import (
	"context"
	stdsql "database/sql"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var tableSeq atomic.Int64

// uniqueName returns a table name no other test (or run) uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1_000_000_000, tableSeq.Add(1))
}

// postgresDSN finds a DSN that works here: PATRON_TEST_POSTGRES_DSN, or the
// local server as user postgres, then root (installations differ).
func postgresDSN(t *testing.T) string {
	t.Helper()
	testenv.RequireTCP(t, "postgres", testenv.PostgresAddr)
	candidates := []string{
		"postgres://postgres@" + testenv.PostgresAddr + "/test?sslmode=disable",
		"postgres://root@" + testenv.PostgresAddr + "/test?sslmode=disable",
	}
	if env := os.Getenv("PATRON_TEST_POSTGRES_DSN"); env != "" {
		candidates = []string{env}
	}
	return firstWorking(t, "pgx", candidates)
}

// mysqlDSN is PATRON_TEST_MYSQL_DSN or the local MariaDB as root.
func mysqlDSN(t *testing.T) string {
	t.Helper()
	testenv.RequireTCP(t, "mariadb", testenv.MySQLAddr)
	dsn := "root@tcp(" + testenv.MySQLAddr + ")/test"
	if env := os.Getenv("PATRON_TEST_MYSQL_DSN"); env != "" {
		dsn = env
	}
	return firstWorking(t, "mysql", []string{dsn})
}

func firstWorking(t *testing.T, driverName string, dsns []string) string {
	t.Helper()
	var errs []string
	for _, dsn := range dsns {
		db, err := stdsql.Open(driverName, dsn)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		_ = db.Close()
		if err == nil {
			return dsn
		}
		errs = append(errs, err.Error())
	}
	testenv.Unavailable(t, driverName+": no working DSN: "+strings.Join(errs, "; "))
	return ""
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string { return testenv.FreeAddr(t) }

// parent starts the span every test hangs its database calls under.
func parent(t *testing.T, kit *observabilitytest.Kit) (context.Context, func()) {
	t.Helper()
	ctx, span := kit.TracerProvider.Tracer("test").Start(t.Context(), "test")
	return ctx, func() { span.End() }
}

// assertNoSecret fails when any attribute, event or status of any span
// contains secret.
func assertNoSecret(t *testing.T, spans []sdktrace.ReadOnlySpan, secrets ...string) {
	t.Helper()
	check := func(where string, kvs []attribute.KeyValue, s sdktrace.ReadOnlySpan) {
		for _, kv := range kvs {
			for _, secret := range secrets {
				if strings.Contains(kv.Value.String(), secret) {
					t.Errorf("span %q %s %s = %q contains %q", s.Name(), where, kv.Key, kv.Value.String(), secret)
				}
			}
		}
	}
	for _, s := range spans {
		check("attribute", s.Attributes(), s)
		for _, e := range s.Events() {
			check("event "+e.Name, e.Attributes, s)
		}
		for _, secret := range secrets {
			if strings.Contains(s.Status().Description, secret) || strings.Contains(s.Name(), secret) {
				t.Errorf("span %q status/name contains %q", s.Name(), secret)
			}
		}
	}
}

func attrString(t *testing.T, s sdktrace.ReadOnlySpan, key attribute.Key) string {
	t.Helper()
	v, ok := observabilitytest.Attr(s, key)
	if !ok {
		t.Fatalf("span %q has no attribute %s; has %v", s.Name(), key, s.Attributes())
	}
	return v.String()
}
