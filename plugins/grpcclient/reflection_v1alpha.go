// grpc.reflection.v1alpha is deprecated; the plugin asks it only of the
// servers that do not answer on v1 (grpc-go before 1.57 and others).
//lint:file-ignore SA1019 v1alpha is asked only of servers without v1

package grpcclient

import (
	"context"

	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
)

// askV1Alpha asks on v1alpha, whose messages are v1's on the wire.
func (s *schema) askV1Alpha(ctx context.Context, reqs []*reflectionv1.ServerReflectionRequest) ([]*reflectionv1.ServerReflectionResponse, error) {
	alphaReqs := make([]*reflectionv1alpha.ServerReflectionRequest, len(reqs))
	for i, r := range reqs {
		alphaReqs[i] = new(reflectionv1alpha.ServerReflectionRequest)
		if err := convert(r, alphaReqs[i]); err != nil {
			return nil, err
		}
	}
	client := reflectionv1alpha.NewServerReflectionClient(s.conn)
	alphaResps, err := exchange(ctx, func(ctx context.Context) (reflectionStream[*reflectionv1alpha.ServerReflectionRequest, *reflectionv1alpha.ServerReflectionResponse], error) {
		return client.ServerReflectionInfo(ctx)
	}, alphaReqs)
	if err != nil {
		return nil, reflectionError(ctx, err)
	}
	resps := make([]*reflectionv1.ServerReflectionResponse, len(alphaResps))
	for i, r := range alphaResps {
		resps[i] = new(reflectionv1.ServerReflectionResponse)
		if err := convert(r, resps[i]); err != nil {
			return nil, err
		}
	}
	return resps, nil
}
