// Command amqp is amqp-svc: it consumes users from RabbitMQ, publishes each
// to the SNS topic (which fans out to the SQS queue) and also sends it
// straight to the SQS queue.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/patron-go/patron"
	snsclient "github.com/patron-go/patron/client/sns"
	sqsclient "github.com/patron-go/patron/client/sqs"
	"github.com/patron-go/patron/component/amqp"
	"github.com/patron-go/patron/examples/internal/env"
)

type forwarder struct {
	sns      *snsclient.Publisher
	sqs      *sqsclient.Publisher
	topicARN string
	queueURL string
}

func (f *forwarder) handle(ctx context.Context, msg *amqp.Message) error {
	body := string(msg.Body())
	if _, err := f.sns.Publish(ctx, f.topicARN, snsclient.Message{Body: body}); err != nil {
		return fmt.Errorf("publishing to SNS: %w", err)
	}
	if _, err := f.sqs.Send(ctx, f.queueURL, sqsclient.Message{Body: body}); err != nil {
		return fmt.Errorf("sending to SQS: %w", err)
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		slog.Error("amqp-svc failed", "error", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	svc, err := patron.New("amqp-svc", "1.0.0")
	if err != nil {
		return err
	}
	// AWS_REGION, AWS_ENDPOINT_URL and the credentials come from the
	// standard AWS configuration, so the same code runs against AWS.
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("loading AWS configuration: %w", err)
	}
	sqsAPI := awssqs.NewFromConfig(awsCfg)
	queue, err := sqsAPI.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(env.Get("SQS_QUEUE", "patron"))})
	if err != nil {
		return fmt.Errorf("resolving the SQS queue: %w", err)
	}
	snsPub, err := snsclient.New(awssns.NewFromConfig(awsCfg))
	if err != nil {
		return err
	}
	sqsPub, err := sqsclient.New(sqsAPI)
	if err != nil {
		return err
	}
	f := &forwarder{sns: snsPub, sqs: sqsPub, queueURL: aws.ToString(queue.QueueUrl),
		topicARN: env.Get("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:100010001000:patron-topic")}

	exchange := env.Get("AMQP_EXCHANGE", "patron")
	consumer, err := amqp.New(env.Get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"), env.Get("AMQP_QUEUE", "patron"), f.handle,
		amqp.WithDeclareQueue(amqp.QueueSpec{Durable: true}),
		amqp.WithExchange(amqp.ExchangeSpec{Name: exchange, Kind: "topic", Durable: true}),
		amqp.WithBinding(exchange, "user.#", nil))
	if err != nil {
		return err
	}
	return svc.Run(ctx, consumer)
}
