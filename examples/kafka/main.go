// Command kafka is kafka-svc: it consumes users from Kafka, stores each one
// in a SQL database inside a transaction, and publishes it to RabbitMQ.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	_ "modernc.org/sqlite" // SQLite driver "sqlite", pure Go

	"github.com/patron-go/patron"
	amqpclient "github.com/patron-go/patron/client/amqp"
	patronsql "github.com/patron-go/patron/client/sql"
	"github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/encoding"
	"github.com/patron-go/patron/examples/internal/env"
)

type user struct {
	Firstname string `json:"firstname"`
	Lastname  string `json:"lastname"`
}

type processor struct {
	db        *sql.DB
	insert    string
	publisher *amqpclient.Publisher
	exchange  string
}

func (p *processor) handle(ctx context.Context, msg *kafka.Message) error {
	var u user
	if err := msg.Decode(&u); err != nil {
		return fmt.Errorf("decoding user: %w", err)
	}
	if err := p.store(ctx, u); err != nil {
		return err
	}
	pub, err := amqpclient.NewPublishing(encoding.JSON, u)
	if err != nil {
		return err
	}
	return p.publisher.Publish(ctx, p.exchange, "user.created", pub)
}

func (p *processor) store(ctx context.Context, u user) (err error) {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err = tx.ExecContext(ctx, p.insert, u.Firstname, u.Lastname, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		slog.Error("kafka-svc failed", "error", err)
		os.Exit(1)
	}
}

func run() error {
	svc, err := patron.New("kafka-svc", "1.0.0")
	if err != nil {
		return err
	}
	driver := env.Get("SQL_DRIVER", "sqlite")
	var opts []patronsql.Option
	insert := "INSERT INTO patron_users (firstname, lastname, created_at) VALUES ($1, $2, $3)"
	if driver == "sqlite" {
		opts = append(opts, patronsql.WithSystem(semconv.DBSystemNameSQLite))
		insert = "INSERT INTO patron_users (firstname, lastname, created_at) VALUES (?, ?, ?)"
	}
	db, err := patronsql.Open(driver, env.Get("SQL_DSN", "file:patron-demo.db"), opts...)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(),
		"CREATE TABLE IF NOT EXISTS patron_users (firstname TEXT NOT NULL, lastname TEXT NOT NULL, created_at TEXT NOT NULL)"); err != nil {
		return fmt.Errorf("creating table: %w", err)
	}
	publisher, err := amqpclient.New(env.Get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
	if err != nil {
		return err
	}
	defer publisher.Close()
	p := &processor{db: db, insert: insert, publisher: publisher, exchange: env.Get("AMQP_EXCHANGE", "patron")}
	consumer, err := kafka.New("kafka-svc", "kafka-svc",
		strings.Split(env.Get("KAFKA_BROKERS", "127.0.0.1:9092"), ","),
		[]string{env.Get("KAFKA_TOPIC", "patron-topic")}, p.handle)
	if err != nil {
		return err
	}
	return svc.Run(context.Background(), consumer)
}
