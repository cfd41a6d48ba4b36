package sqs

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/patron-go/patron/reliability"
)

func TestNewMessage(t *testing.T) {
	sent := time.UnixMilli(1_700_000_000_000)
	cases := map[string]struct {
		body     string
		attrs    map[string]types.MessageAttributeValue
		sys      map[string]string
		wantBody string
		wantAttr map[string]string
		topic    string
		count    int
	}{
		"plain": {
			body: "hello",
			attrs: map[string]types.MessageAttributeValue{
				"traceparent": {DataType: aws.String("String"), StringValue: aws.String("tp")},
				"n":           {DataType: aws.String("Number"), StringValue: aws.String("3")},
				"custom":      {DataType: aws.String("String.custom"), StringValue: aws.String("c")},
				"bin":         {DataType: aws.String("Binary"), BinaryValue: []byte{1}},
				"nil":         {DataType: aws.String("String")},
			},
			sys:      map[string]string{"ApproximateReceiveCount": "4", "SentTimestamp": "1700000000000"},
			wantBody: "hello",
			wantAttr: map[string]string{"traceparent": "tp", "n": "3", "custom": "c"},
			count:    4,
		},
		"aws envelope": {
			body:     `{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"inner","MessageAttributes":{"traceparent":{"Type":"String","Value":"tp"},"b":{"Type":"Binary","Value":"AQ=="}}}`,
			wantBody: "inner",
			wantAttr: map[string]string{"traceparent": "tp"},
			topic:    "arn:aws:sns:us-east-1:1:t",
			count:    1,
		},
		"goaws envelope": {
			body:     `{"Type":"Notification","TopicArn":"arn:aws:sns::1:t","Message":"","MessageAttributes":{"k":{"DataType":"String","StringValue":"v"}}}`,
			wantBody: "",
			wantAttr: map[string]string{"k": "v"},
			topic:    "arn:aws:sns::1:t",
			count:    1,
		},
		"json body that is not an envelope": {
			body:     `{"Type":"Notification","Message":"no topic"}`,
			wantBody: `{"Type":"Notification","Message":"no topic"}`,
			wantAttr: map[string]string{},
			count:    1,
		},
		"broken envelope": {
			body:     `{"Type":"Notification","TopicArn":"x","Message":`,
			wantBody: `{"Type":"Notification","TopicArn":"x","Message":`,
			wantAttr: map[string]string{},
			count:    1,
		},
		"bad system attributes": {
			body:     "x",
			sys:      map[string]string{"ApproximateReceiveCount": "-2", "SentTimestamp": "yesterday"},
			wantBody: "x",
			wantAttr: map[string]string{},
			count:    1,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := newMessage(types.Message{MessageId: aws.String("id"), Body: aws.String(tc.body), MessageAttributes: tc.attrs, Attributes: tc.sys}, "q")
			if string(m.Body) != tc.wantBody || m.TopicARN != tc.topic || m.ReceiveCount != tc.count || m.ID != "id" || m.Queue != "q" {
				t.Fatalf("got body %q topic %q count %d", m.Body, m.TopicARN, m.ReceiveCount)
			}
			if len(m.Attributes) != len(tc.wantAttr) {
				t.Fatalf("attributes %v, want %v", m.Attributes, tc.wantAttr)
			}
			for k, v := range tc.wantAttr {
				if m.Attributes[k] != v {
					t.Fatalf("attribute %s = %q, want %q", k, m.Attributes[k], v)
				}
			}
			if tc.sys["SentTimestamp"] == "1700000000000" && !m.SentAt.Equal(sent) {
				t.Fatalf("SentAt %v", m.SentAt)
			}
		})
	}
}

// FuzzNewMessage: no body or attribute value makes reading a message panic.
func FuzzNewMessage(f *testing.F) {
	f.Add(`{"Type":"Notification","TopicArn":"a","Message":"m","MessageAttributes":{"k":{"Type":"String","Value":"v"}}}`, "1", "2")
	f.Add("plain", "x", "")
	f.Add(`{"Type":"Notification","TopicArn":"","Message":null}`, "99999999999999999999", "-1")
	f.Fuzz(func(t *testing.T, body, count, sent string) {
		m := newMessage(types.Message{Body: aws.String(body), Attributes: map[string]string{
			"ApproximateReceiveCount": count, "SentTimestamp": sent,
		}}, "q")
		if m.ReceiveCount < 1 {
			t.Fatalf("receive count %d", m.ReceiveCount)
		}
	})
}

func TestRedeliveryDelay(t *testing.T) {
	b := reliability.Backoff{Initial: 1500 * time.Millisecond, Max: time.Minute, Multiplier: 2, NoJitter: true}
	for count, want := range map[int]time.Duration{0: 2 * time.Second, 1: 2 * time.Second, 2: 3 * time.Second, 3: 6 * time.Second, 20: time.Minute} {
		if got := redeliveryDelay(b, count); got != want {
			t.Errorf("receive %d: delay %s, want %s", count, got, want)
		}
	}
	if got := redeliveryDelay(reliability.Backoff{Initial: time.Millisecond, Max: time.Millisecond, NoJitter: true}, 1); got != time.Second {
		t.Errorf("sub-second delays round up to 1s, got %s", got)
	}
}

func TestQueueName(t *testing.T) {
	for in, want := range map[string]string{
		"orders": "orders",
		"https://sqs.eu-west-1.amazonaws.com/123/orders": "orders",
		"http://127.0.0.1:4100/100/orders/":              "orders",
	} {
		if got := queueName(in); got != want {
			t.Errorf("queueName(%q) = %q, want %q", in, got, want)
		}
	}
}
