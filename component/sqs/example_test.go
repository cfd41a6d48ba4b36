package sqs_test

import (
	"context"
	"log"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/patron-go/patron/component/sqs"
	"github.com/patron-go/patron/reliability"
)

// A consumer of the queue "orders". The SDK client comes from the standard
// AWS configuration: AWS_REGION, the credentials chain, and
// AWS_ENDPOINT_URL_SQS (or AWS_ENDPOINT_URL) to point it at an emulator.
// The component is then given to patron's Service.Run.
func Example() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	handler := func(ctx context.Context, msg *sqs.Message) error {
		// ctx carries the CONSUMER span, continued from the producer, and
		// the correlation ID: logs made with it are correlated.
		slog.InfoContext(ctx, "order received", slog.Int("size", len(msg.Body)))
		return nil // delete the message; an error brings it back later
	}
	c, err := sqs.New("orders-consumer", "orders", handler,
		sqs.WithClient(awssqs.NewFromConfig(awsCfg)),
		// 1 + 4 retries: the queue's RedrivePolicy maxReceiveCount (5).
		sqs.WithRetry(4, reliability.Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 2}),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = c // service.Run(ctx, c)
}
