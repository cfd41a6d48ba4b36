package sql_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	patronsql "github.com/patron-go/patron/client/sql"
)

// Open returns a plain *sql.DB: every query, transaction step and row
// iteration becomes a CLIENT span, with literals hidden from db.query.text.
func ExampleOpen() {
	ctx := context.Background()
	db, err := patronsql.Open("pgx", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	var n int
	// Span "SELECT pg_tables", db.query.text "SELECT count(*) FROM pg_tables WHERE schemaname = ?".
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n >= 0)
}

// MariaDB is reached through the MySQL driver. The server's version tells
// MariaDB from MySQL on the first connection (db.system.name "mariadb");
// WithSystem fixes the system instead.
func ExampleOpen_mariaDB() {
	db, err := patronsql.Open("mysql", "root@tcp(127.0.0.1:3306)/test", patronsql.WithSystem(semconv.DBSystemNameMariaDB))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
}

// ReadyCheck pings the database; give it to patron.WithReadyCheck so that
// /ready (and gRPC health) answer 503 while the database is down:
//
//	patron.New("svc", "1.0", patron.WithReadyCheck("postgres", patronsql.ReadyCheck(db)))
func ExampleReadyCheck() {
	db, err := patronsql.Open("pgx", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	check := patronsql.ReadyCheck(db)
	if err := check(context.Background()); err != nil {
		log.Print(err) // "sql: ping: ..."
	}
}

// NewPgxTracer traces pgxpool users the same way.
func ExampleNewPgxTracer() {
	tracer, err := patronsql.NewPgxTracer()
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig("postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
}

func ExampleSanitize() {
	fmt.Println(patronsql.Sanitize("SELECT * FROM users WHERE email = 'a@b.c' AND age > 42 -- admin"))
	// Output: SELECT * FROM users WHERE email = ? AND age > ?
}
