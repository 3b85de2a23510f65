/**
 * ttrpc (containerd's lightweight RPC protocol) on Netty, driven by gRPC's generated code.
 *
 * <p>Serving: {@code TtrpcServer.builder().addService(impl).build()}, then {@code bind(path)} for a
 * unix socket or {@code serve(channel)} / {@code initializer()} for channels made elsewhere (vsock,
 * local, embedded). The same {@code BindableService} can be added to a gRPC server too.
 *
 * <p>Calling: {@code TtrpcClient.connect(path)} or {@code TtrpcClient.over(channel)} is an
 * {@link io.grpc.Channel}; pass it to {@code XxxGrpc.newBlockingStub(...)} and friends. Metadata
 * travels from ASCII {@link io.grpc.Metadata} headers; the deadline from the call options becomes
 * {@code timeout_nano}. Everything under {@code internal} may change without notice.
 */
package io.nemu.ttrpc;
