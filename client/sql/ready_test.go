package sql

import (
	"strings"
	"testing"

	"github.com/patron-go/patron/observability/observabilitytest"
)

// TestReadyCheck: the check passes against the real PostgreSQL and MariaDB
// without adding spans, and fails with the driver's error where no server
// listens.
func TestReadyCheck(t *testing.T) {
	for name, dsn := range map[string]func(*testing.T) (string, string){
		"postgres": func(t *testing.T) (string, string) { return "pgx", postgresDSN(t) },
		"mariadb":  func(t *testing.T) (string, string) { return "mysql", mysqlDSN(t) },
	} {
		t.Run(name, func(t *testing.T) {
			driverName, dsn := dsn(t)
			kit := observabilitytest.New(t)
			if err := ReadyCheck(openTraced(t, kit, driverName, dsn))(t.Context()); err != nil {
				t.Fatalf("check against a live server: %v", err)
			}
			for _, s := range kit.Spans() {
				if s.Name() != "CONNECT" {
					t.Fatalf("the check traced %q", s.Name())
				}
			}
		})
	}
	kit := observabilitytest.New(t)
	err := ReadyCheck(openTraced(t, kit, "pgx", "postgres://postgres@"+closedPort(t)+"/test?sslmode=disable&connect_timeout=2"))(t.Context())
	if err == nil || !strings.HasPrefix(err.Error(), "sql: ping: ") {
		t.Fatalf("check against a closed port = %v, want the ping's error", err)
	}
	if err := ReadyCheck(nil)(t.Context()); err == nil {
		t.Fatal("the check of a nil database passed")
	}
}
