package io.nemu.ttrpc;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.nemu.proto.test.EchoGrpc;
import io.nemu.proto.test.EchoRequest;
import io.nemu.proto.test.EchoResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** The test service: one implementation, served over ttrpc and gRPC alike. */
final class EchoService extends EchoGrpc.EchoImplBase {
    static final Context.Key<Metadata> HEADERS = Context.key("headers");

    /** Method names of calls whose context was cancelled while the handler waited. */
    final BlockingQueue<String> cancelled = new LinkedBlockingQueue<>();
    final CountDownLatch sleeping = new CountDownLatch(1);

    /** With an interceptor that exposes request headers to the handler. */
    ServerServiceDefinition definition() {
        ServerInterceptor exposeHeaders = new ServerInterceptor() {
            @Override
            public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call, Metadata headers,
                    ServerCallHandler<ReqT, RespT> next) {
                return Contexts.interceptCall(Context.current().withValue(HEADERS, headers), call, headers, next);
            }
        };
        return ServerInterceptors.intercept(bindService(), exposeHeaders);
    }

    /** Waits the asked time; false if the call was cancelled meanwhile. */
    private boolean sleep(EchoRequest req, String method) {
        if (req.getSleepMillis() <= 0) {
            return true;
        }
        CountDownLatch done = new CountDownLatch(1);
        Context.current().addListener(c -> done.countDown(), Runnable::run);
        sleeping.countDown();
        try {
            if (done.await(req.getSleepMillis(), TimeUnit.MILLISECONDS)) {
                cancelled.add(method);
                return false;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        return true;
    }

    private static EchoResponse.Builder reply(EchoRequest req, int index) {
        EchoResponse.Builder b = EchoResponse.newBuilder().setMessage(req.getMessage()).setData(req.getData()).setIndex(index);
        if (req.getReplySize() > 0) {
            b.setData(com.google.protobuf.ByteString.copyFrom(new byte[req.getReplySize()]));
        }
        Metadata headers = HEADERS.get();
        if (headers != null) {
            for (String key : req.getEchoKeysList()) {
                Iterable<String> values = headers.getAll(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER));
                if (values != null) {
                    b.putMetadata(key, String.join(",", values));
                }
            }
        }
        return b;
    }

    @Override
    public void unary(EchoRequest req, StreamObserver<EchoResponse> out) {
        if (!sleep(req, "Unary")) {
            out.onError(Status.CANCELLED.asRuntimeException());
            return;
        }
        switch (req.getMessage()) {
            case "fail" -> out.onError(Status.NOT_FOUND.withDescription("asked to fail").asRuntimeException());
            case "throw" -> throw new IllegalStateException("asked to throw");
            default -> {
                out.onNext(reply(req, 0).build());
                out.onCompleted();
            }
        }
    }

    @Override
    public void serverStream(EchoRequest req, StreamObserver<EchoResponse> out) {
        if (!sleep(req, "ServerStream")) {
            out.onError(Status.CANCELLED.asRuntimeException());
            return;
        }
        for (int i = 0; i < req.getCount(); i++) {
            out.onNext(reply(req, i).build());
        }
        if (req.getMessage().equals("fail")) {
            out.onError(Status.FAILED_PRECONDITION.withDescription("asked to fail").asRuntimeException());
        } else {
            out.onCompleted();
        }
    }

    @Override
    public StreamObserver<EchoRequest> clientStream(StreamObserver<EchoResponse> out) {
        List<String> seen = new ArrayList<>();
        return new StreamObserver<>() {
            @Override
            public void onNext(EchoRequest req) {
                seen.add(req.getMessage());
            }

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onCompleted() {
                out.onNext(EchoResponse.newBuilder().setMessage(String.join(",", seen)).setIndex(seen.size()).build());
                out.onCompleted();
            }
        };
    }

    @Override
    public StreamObserver<EchoRequest> bidi(StreamObserver<EchoResponse> out) {
        return new StreamObserver<>() {
            int index;

            @Override
            public void onNext(EchoRequest req) {
                out.onNext(reply(req, index++).build());
            }

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onCompleted() {
                out.onCompleted();
            }
        };
    }
}
