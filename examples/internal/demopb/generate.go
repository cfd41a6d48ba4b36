// Package demopb holds the protobuf messages and the gRPC Greeter service of
// Patron's demo chain; the .pb.go files are generated and committed.
package demopb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative demo.proto
