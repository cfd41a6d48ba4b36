// Command sqs is sqs-svc: it consumes the SQS queue (fed by SNS and by
// direct sends) and greets each user through grpc-svc.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/patron-go/patron"
	grpcclient "github.com/patron-go/patron/client/grpc"
	"github.com/patron-go/patron/component/sqs"
	"github.com/patron-go/patron/examples/internal/demopb"
	"github.com/patron-go/patron/examples/internal/env"
	patronlog "github.com/patron-go/patron/observability/log"
)

type greeterCaller struct {
	client demopb.GreeterClient
}

func (g *greeterCaller) handle(ctx context.Context, msg *sqs.Message) error {
	var u struct {
		Firstname string `json:"firstname"`
		Lastname  string `json:"lastname"`
	}
	if err := json.Unmarshal(msg.Body, &u); err != nil {
		return fmt.Errorf("decoding user: %w", err)
	}
	reply, err := g.client.SayHello(ctx, &demopb.HelloRequest{Firstname: u.Firstname, Lastname: u.Lastname})
	if err != nil {
		return fmt.Errorf("calling grpc-svc: %w", err)
	}
	patronlog.FromContext(ctx).InfoContext(ctx, "greeted", "reply", reply.GetMessage(), "via_sns", msg.TopicARN != "")
	return nil
}

func main() {
	if err := run(); err != nil {
		slog.Error("sqs-svc failed", "error", err)
		os.Exit(1)
	}
}

func run() error {
	svc, err := patron.New("sqs-svc", "1.0.0")
	if err != nil {
		return err
	}
	conn, err := grpcclient.NewClient(env.Get("GRPC_TARGET", "127.0.0.1:50006"), grpcclient.WithInsecure())
	if err != nil {
		return err
	}
	defer conn.Close()
	g := &greeterCaller{client: demopb.NewGreeterClient(conn)}
	// The SQS client comes from the standard AWS configuration (AWS_REGION,
	// AWS_ENDPOINT_URL, credentials chain).
	consumer, err := sqs.New("sqs-svc", env.Get("SQS_QUEUE", "patron"), g.handle)
	if err != nil {
		return err
	}
	return svc.Run(context.Background(), consumer)
}
