// Package sql_test measures what Patron's SQL and Redis instrumentation adds
// per call, against the bare drivers, side by side in one run.
package sql_test

import (
	"context"
	stdsql "database/sql"
	"testing"

	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	patronredis "github.com/patron-go/patron/client/redis"
	patronsql "github.com/patron-go/patron/client/sql"
	"github.com/patron-go/patron/patrontest/testenv"
	_ "modernc.org/sqlite" // in-process baseline
)

const pgDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// providers returns SDK providers that record (sampled) or drop (unsampled)
// every span, without exporting, so the cost measured is instrumentation.
func providers(b *testing.B, sampled bool) (*sdktrace.TracerProvider, *sdkmetric.MeterProvider) {
	sampler := sdktrace.NeverSample()
	if sampled {
		sampler = sdktrace.AlwaysSample()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return tp, mp
}

func BenchmarkPostgresSelect(b *testing.B) {
	testenv.RequireTCP(b, "postgres", testenv.PostgresAddr)
	run := func(b *testing.B, db *stdsql.DB) {
		b.Cleanup(func() { _ = db.Close() })
		db.SetMaxIdleConns(4)
		ctx := context.Background()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := db.QueryRowContext(ctx, "SELECT id FROM (SELECT 1 AS id) t WHERE id = $1", 1).Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("bare", func(b *testing.B) {
		db, err := stdsql.Open("pgx", pgDSN)
		if err != nil {
			b.Fatal(err)
		}
		run(b, db)
	})
	for _, sampled := range []bool{true, false} {
		name := "traced"
		if !sampled {
			name = "traced-unsampled"
		}
		b.Run(name, func(b *testing.B) {
			tp, mp := providers(b, sampled)
			db, err := patronsql.Open("pgx", pgDSN, patronsql.WithTracerProvider(tp), patronsql.WithMeterProvider(mp))
			if err != nil {
				b.Fatal(err)
			}
			run(b, db)
		})
	}
}

func BenchmarkRedisGet(b *testing.B) {
	testenv.RequireTCP(b, "redis", testenv.RedisAddr)
	run := func(b *testing.B, rdb *redis.Client) {
		b.Cleanup(func() { _ = rdb.Close() })
		ctx := context.Background()
		key := "patron:bench:get"
		if err := rdb.Set(ctx, key, "v", 0).Err(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := rdb.Get(ctx, key).Err(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("bare", func(b *testing.B) {
		run(b, redis.NewClient(&redis.Options{Addr: testenv.RedisAddr}))
	})
	for _, sampled := range []bool{true, false} {
		name := "traced"
		if !sampled {
			name = "traced-unsampled"
		}
		b.Run(name, func(b *testing.B) {
			tp, mp := providers(b, sampled)
			rdb, err := patronredis.New(patronredis.WithAddr(testenv.RedisAddr),
				patronredis.WithTracerProvider(tp), patronredis.WithMeterProvider(mp))
			if err != nil {
				b.Fatal(err)
			}
			run(b, rdb)
		})
	}
}

// BenchmarkSanitize is the cost of hiding literals in a typical query.
func BenchmarkSanitize(b *testing.B) {
	q := "SELECT u.id, u.name FROM users u WHERE u.email = 'a@b.c' AND u.age > 42 AND u.tag IN ('x', 'y')"
	b.ReportAllocs()
	for b.Loop() {
		_ = patronsql.Sanitize(q)
	}
}

// BenchmarkSQLiteSelect runs in-process (modernc.org/sqlite, in memory), so
// the network and the shared machine's noise do not hide the added CPU cost.
func BenchmarkSQLiteSelect(b *testing.B) {
	run := func(b *testing.B, db *stdsql.DB) {
		b.Cleanup(func() { _ = db.Close() })
		db.SetMaxOpenConns(1)
		ctx := context.Background()
		var n int
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := db.QueryRowContext(ctx, "SELECT id FROM (SELECT 1 AS id) t WHERE id = ?", 1).Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("bare", func(b *testing.B) {
		db, err := stdsql.Open("sqlite", ":memory:")
		if err != nil {
			b.Fatal(err)
		}
		run(b, db)
	})
	for _, sampled := range []bool{true, false} {
		name := "traced"
		if !sampled {
			name = "traced-unsampled"
		}
		b.Run(name, func(b *testing.B) {
			tp, mp := providers(b, sampled)
			db, err := patronsql.Open("sqlite", ":memory:", patronsql.WithTracerProvider(tp), patronsql.WithMeterProvider(mp))
			if err != nil {
				b.Fatal(err)
			}
			run(b, db)
		})
	}
}
