// Package kafkabench compares Patron's Kafka consumer and producer, with
// tracing and metrics on, against bare franz-go loops on the same in-process
// kfake cluster. Run: go test -run '^$' -bench . -benchtime 20000x ./bench/kafka
package kafkabench
