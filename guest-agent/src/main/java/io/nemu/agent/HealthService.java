package io.nemu.agent;

import io.grpc.stub.StreamObserver;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.HealthCheckResponse;
import io.nemu.proto.kata.HealthGrpc;
import io.nemu.proto.kata.VersionCheckResponse;

/** grpc.Health: the shim's "is the agent up" probe. */
public final class HealthService extends HealthGrpc.HealthImplBase {

    @Override
    public void check(CheckRequest request, StreamObserver<HealthCheckResponse> out) {
        out.onNext(HealthCheckResponse.newBuilder().setStatus(HealthCheckResponse.ServingStatus.SERVING).build());
        out.onCompleted();
    }

    @Override
    public void version(CheckRequest request, StreamObserver<VersionCheckResponse> out) {
        out.onNext(VersionCheckResponse.newBuilder().setGrpcVersion(AgentConfig.API_VERSION)
                .setAgentVersion(AgentConfig.VERSION).build());
        out.onCompleted();
    }
}
