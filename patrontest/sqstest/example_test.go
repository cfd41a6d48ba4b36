package sqstest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/patron-go/patron/patrontest/sqstest"
)

// Start an emulator on a free loopback port, as the demo launcher does, and
// talk to it with the AWS SDK.
func Example() {
	ctx := context.Background()
	emu, err := sqstest.Start(ctx, "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer emu.Close()

	c := sqstest.NewSQSClient(emu.Endpoint())
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("example")})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("hello")}); err != nil {
		log.Fatal(err)
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(aws.ToString(out.Messages[0].Body))
	// Output: hello
}
