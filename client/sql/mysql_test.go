package sql

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/observability/observabilitytest"
)

func TestMariaDBSpans(t *testing.T) {
	dsn := mysqlDSN(t)
	kit := observabilitytest.New(t)
	db := openTraced(t, kit, "mysql", dsn, WithSystem(semconv.DBSystemNameMariaDB))
	table := uniqueName("patron_my")
	createTable(t, db, table, "id int primary key, name varchar(64)")
	kit.Reset()

	ctx, end := parent(t, kit)
	exercise(t, ctx, db, table, "?", "?")
	end()

	spans := kit.WaitForSpanCount(t, 5*time.Second, "test", 1)
	common := []attribute.KeyValue{
		semconv.DBSystemNameMariaDB, semconv.DBNamespace("test"),
		semconv.ServerAddress("127.0.0.1"), semconv.ServerPort(3306),
	}
	client := trace.SpanKindClient
	observabilitytest.AssertTree(t, spans, W{Name: "test", Children: []W{
		{Name: "INSERT " + table, Kind: client, Attrs: append(common,
			semconv.DBOperationName("INSERT"), semconv.DBCollectionName(table),
			semconv.DBQueryText("INSERT INTO "+table+" (id, name) VALUES (?, ?)"))},
		{Name: "SELECT " + table, Kind: client, Attrs: common, Children: []W{{Name: "FETCH"}}},
		{Name: "BEGIN", Kind: client, Attrs: common},
		{Name: "COMMIT", Kind: client},
		{Name: "ROLLBACK", Kind: client},
	}})
	// The MySQL driver answers driver.ErrSkip to queries with arguments and
	// database/sql prepares them instead: that first attempt is not a span,
	// so each INSERT is one PREPARE span and one INSERT span.
	if n := len(observabilitytest.Named(spans, "INSERT "+table)); n != 1 {
		t.Errorf("want 1 INSERT span, have %d:\n%s", n, observabilitytest.Describe(spans))
	}
	for _, s := range spans {
		if s.Status().Code.String() == "Error" {
			t.Errorf("span %q has status Error (driver.ErrSkip must not count)", s.Name())
		}
	}
}

func TestMariaDBErrorAndSanitising(t *testing.T) {
	dsn := mysqlDSN(t)
	kit := observabilitytest.New(t)
	db := openTraced(t, kit, "mysql", dsn)
	table := uniqueName("patron_my_err")
	createTable(t, db, table, "id int primary key, secret varchar(64)")

	ctx, end := parent(t, kit)
	if _, err := db.ExecContext(ctx, "INSERT INTO "+table+" VALUES (777111, 'top-secret-value')"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO `+table+` VALUES (777111, "it\"s-secret") # hash-secret`); err == nil {
		t.Fatal("duplicate key: want an error")
	}
	end()
	spans := kit.WaitForSpanCount(t, 5*time.Second, "test", 1)
	// MySQL quotes the key value into its duplicate-key message: the
	// exception event must not carry it either.
	assertNoSecret(t, spans, "777111", "top-secret", "s-secret", "hash-secret")
	var recorded bool
	for _, s := range spans {
		for _, e := range s.Events() {
			for _, a := range e.Attributes {
				if a.Key == semconv.ExceptionMessageKey && contains(a.Value.AsString(), "Duplicate entry ? for key") {
					recorded = true
				}
			}
		}
	}
	if !recorded {
		t.Errorf("want the redacted duplicate-key message on the span:\n%s", observabilitytest.Describe(spans))
	}
	observabilitytest.AssertTree(t, spans, W{Name: "test", Children: []W{
		{Name: "INSERT " + table, Error: true, Attrs: []attribute.KeyValue{
			semconv.DBSystemNameMariaDB, semconv.DBResponseStatusCode("1062"),
			semconv.DBQueryText("INSERT INTO " + table + " VALUES (?, ?)"),
		}},
	}})
}

// TestMariaDBDetected: without WithSystem, the server's version tells
// MariaDB from MySQL on the first connection, for the spans, the duration
// metric and the pool metrics.
func TestMariaDBDetected(t *testing.T) {
	dsn := mysqlDSN(t)
	kit := observabilitytest.New(t)
	db := openTraced(t, kit, "mysql", dsn)
	if err := db.PingContext(t.Context()); err != nil { // the first connection
		t.Fatal(err)
	}
	kit.Reset()
	ctx, end := parent(t, kit)
	if _, err := db.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	end()
	spans := kit.WaitForSpanCount(t, 5*time.Second, "test", 1)
	observabilitytest.AssertTree(t, spans, W{Name: "test", Children: []W{
		{Name: "SELECT", Attrs: []attribute.KeyValue{semconv.DBSystemNameMariaDB}},
	}})
	if n := kit.Sum(t, "db.client.operation.duration", semconv.DBSystemNameMariaDB); n < 1 {
		t.Errorf("no duration measured with db.system.name mariadb")
	}
	if n := kit.Sum(t, "db.client.connection.count", semconv.DBSystemNameMariaDB); n < 1 {
		t.Errorf("pool metrics count %v connections with db.system.name mariadb, want the open one", n)
	}
	if n := kit.Sum(t, "db.client.operation.duration", semconv.DBSystemNameMySQL); n != 0 {
		t.Errorf("%v durations still measured as mysql", n)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
