package main

import "fmt"

// Hand-written hypervisor.* messages. The `protobuf` struct tags drive gogo's reflection-based
// marshaller (the same way ttrpc's own Request/Response types work), so no protoc step is needed.
// Field numbers follow src/proto/hypervisor/hypervisor.proto.

type CreateVMRequest struct {
	Id                   string            `protobuf:"bytes,1,opt,name=id,proto3"`
	Annotations          map[string]string `protobuf:"bytes,2,rep,name=annotations,proto3" protobuf_key:"bytes,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3"`
	NetworkNamespacePath string            `protobuf:"bytes,3,opt,name=networkNamespacePath,proto3"`
}

func (m *CreateVMRequest) Reset()         { *m = CreateVMRequest{} }
func (m *CreateVMRequest) String() string { return fmt.Sprintf("%+v", *m) }
func (*CreateVMRequest) ProtoMessage()    {}

type CreateVMResponse struct {
	AgentSocketPath string `protobuf:"bytes,1,opt,name=agentSocketPath,proto3"`
}

func (m *CreateVMResponse) Reset()         { *m = CreateVMResponse{} }
func (m *CreateVMResponse) String() string { return fmt.Sprintf("%+v", *m) }
func (*CreateVMResponse) ProtoMessage()    {}

// IdRequest is StartVMRequest and StopVMRequest (both `string id = 1`).
type IdRequest struct {
	Id string `protobuf:"bytes,1,opt,name=id,proto3"`
}

func (m *IdRequest) Reset()         { *m = IdRequest{} }
func (m *IdRequest) String() string { return fmt.Sprintf("%+v", *m) }
func (*IdRequest) ProtoMessage()    {}

// Empty is StartVMResponse and StopVMResponse.
type Empty struct{}

func (m *Empty) Reset()         { *m = Empty{} }
func (m *Empty) String() string { return "{}" }
func (*Empty) ProtoMessage()    {}

// Version is VersionRequest and VersionResponse (both `string version = 1`).
type Version struct {
	Version string `protobuf:"bytes,1,opt,name=version,proto3"`
}

func (m *Version) Reset()         { *m = Version{} }
func (m *Version) String() string { return fmt.Sprintf("%+v", *m) }
func (*Version) ProtoMessage()    {}

// Raw is an opaque payload: gogo's proto.Marshal/Unmarshal defer to these methods, so bench.Echo
// moves the ttrpc payload bytes untouched, exactly like the TypeScript echo handler.
type Raw struct{ B []byte }

func (m *Raw) Reset()                   { m.B = nil }
func (m *Raw) String() string           { return fmt.Sprintf("Raw(%d bytes)", len(m.B)) }
func (*Raw) ProtoMessage()              {}
func (m *Raw) Marshal() ([]byte, error) { return m.B, nil }

// Unmarshal copies: ttrpc hands us a slice of a pooled read buffer.
func (m *Raw) Unmarshal(p []byte) error {
	m.B = append([]byte(nil), p...)
	return nil
}

// HealthCheckResponse is grpc.HealthCheckResponse (`ServingStatus status = 1`). The request,
// grpc.CheckRequest (`string service = 1`), has the wire shape of Version.
type HealthCheckResponse struct {
	Status int32 `protobuf:"varint,1,opt,name=status,proto3"`
}

func (m *HealthCheckResponse) Reset()         { *m = HealthCheckResponse{} }
func (m *HealthCheckResponse) String() string { return fmt.Sprintf("%+v", *m) }
func (*HealthCheckResponse) ProtoMessage()    {}
