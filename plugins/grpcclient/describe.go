package grpcclient

import (
	"context"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// ListServicesArgs are the arguments of list_services.
type ListServicesArgs struct {
	Methods bool `nebula:"methods" default:"true" doc:"Describe each service's methods too (which asks reflection for each service's file); false lists the names only."`
}

// ListServicesResult is the result of list_services.
type ListServicesResult struct {
	Services []ServiceInfo `json:"services"`
}

// ServiceInfo describes a service.
type ServiceInfo struct {
	Name    string       `json:"name"`
	Methods []MethodInfo `json:"methods,omitempty"`
	// Error says why the service's methods are not listed (a server whose
	// reflection cannot describe it).
	Error string `json:"error,omitempty"`
}

// MethodInfo describes a method.
type MethodInfo struct {
	// Name is the method's full name, as invoke takes it:
	// "package.Service/Method".
	Name            string `json:"name"`
	InputType       string `json:"input_type"`
	OutputType      string `json:"output_type"`
	ClientStreaming bool   `json:"client_streaming"`
	ServerStreaming bool   `json:"server_streaming"`
	// Operation is the operation that calls it: invoke, server_stream,
	// client_stream or bidi_stream.
	Operation string `json:"operation"`
}

// DescribeArgs are the arguments of describe.
type DescribeArgs struct {
	Symbol string `nebula:"symbol,required" doc:"The full name of a service (\"package.Service\"), a method (\"package.Service/Method\") or a message (\"package.Message\")."`
}

// DescribeResult is the result of describe: one of Service, Method and
// Message is set, as Kind says.
type DescribeResult struct {
	Kind    string       `json:"kind"`
	Name    string       `json:"name"`
	File    string       `json:"file"`
	Service *ServiceInfo `json:"service,omitempty"`
	Method  *MethodInfo  `json:"method,omitempty"`
	// Message is the message's fields; for a method, its input's.
	Message []FieldInfo `json:"message,omitempty"`
}

// FieldInfo describes a message's field.
type FieldInfo struct {
	Name     string `json:"name"`
	JSONName string `json:"json_name"`
	Number   int32  `json:"number"`
	// Type is the field's type: "string", "int64", "bool", ..., or the
	// full name of a message or enum; a map is "map<K,V>".
	Type     string `json:"type"`
	Repeated bool   `json:"repeated,omitempty"`
	Oneof    string `json:"oneof,omitempty"`
}

// ListServices lists the services the server offers.
func (i *Instance) ListServices(ctx context.Context, a ListServicesArgs) (ListServicesResult, error) {
	names, err := i.schema.services(ctx)
	if err != nil {
		return ListServicesResult{}, err
	}
	res := ListServicesResult{Services: make([]ServiceInfo, 0, len(names))}
	for _, n := range names {
		info := ServiceInfo{Name: n}
		if a.Methods {
			d, err := i.schema.descriptor(ctx, n)
			sd, ok := d.(protoreflect.ServiceDescriptor)
			switch {
			case ctx.Err() != nil:
				return ListServicesResult{}, i.callError(ctx, ctx.Err(), "list_services")
			case err != nil:
				info.Error = err.Error()
			case !ok:
				info.Error = "not a service"
			default:
				info.Methods = methodInfos(sd)
			}
		}
		res.Services = append(res.Services, info)
	}
	return res, nil
}

// Describe describes a service, method or message.
func (i *Instance) Describe(ctx context.Context, a DescribeArgs) (DescribeResult, error) {
	d, err := i.schema.descriptor(ctx, a.Symbol)
	if err != nil {
		return DescribeResult{}, err
	}
	res := DescribeResult{Kind: kindName(d), Name: string(d.FullName()), File: d.ParentFile().Path()}
	switch d := d.(type) {
	case protoreflect.ServiceDescriptor:
		res.Service = &ServiceInfo{Name: string(d.FullName()), Methods: methodInfos(d)}
	case protoreflect.MethodDescriptor:
		m := methodInfo(d)
		res.Name = m.Name
		res.Method = &m
		res.Message = fieldInfos(d.Input())
	case protoreflect.MessageDescriptor:
		res.Message = fieldInfos(d)
	}
	return res, nil
}

func methodInfos(sd protoreflect.ServiceDescriptor) []MethodInfo {
	out := make([]MethodInfo, sd.Methods().Len())
	for j := range out {
		out[j] = methodInfo(sd.Methods().Get(j))
	}
	return out
}

func methodInfo(md protoreflect.MethodDescriptor) MethodInfo {
	return MethodInfo{
		Name: fullName(md), InputType: string(md.Input().FullName()), OutputType: string(md.Output().FullName()),
		ClientStreaming: md.IsStreamingClient(), ServerStreaming: md.IsStreamingServer(), Operation: opFor(md),
	}
}

func fieldInfos(m protoreflect.MessageDescriptor) []FieldInfo {
	out := make([]FieldInfo, m.Fields().Len())
	for j := range out {
		f := m.Fields().Get(j)
		out[j] = FieldInfo{
			Name: string(f.Name()), JSONName: f.JSONName(), Number: int32(f.Number()),
			Type: fieldType(f), Repeated: f.IsList(),
		}
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
			out[j].Oneof = string(o.Name())
		}
	}
	return out
}

func fieldType(f protoreflect.FieldDescriptor) string {
	switch {
	case f.IsMap():
		return "map<" + fieldType(f.MapKey()) + "," + fieldType(f.MapValue()) + ">"
	case f.Message() != nil:
		return string(f.Message().FullName())
	case f.Enum() != nil:
		return string(f.Enum().FullName())
	}
	return strings.ToLower(f.Kind().String())
}
