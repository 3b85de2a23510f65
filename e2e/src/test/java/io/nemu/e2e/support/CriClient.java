package io.nemu.e2e.support;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.nemu.proto.cri.ContainerConfig;
import io.nemu.proto.cri.ContainerFilter;
import io.nemu.proto.cri.ContainerStats;
import io.nemu.proto.cri.ContainerStatsRequest;
import io.nemu.proto.cri.ContainerStatus;
import io.nemu.proto.cri.ContainerStatusRequest;
import io.nemu.proto.cri.ContainerStatusResponse;
import io.nemu.proto.cri.CreateContainerRequest;
import io.nemu.proto.cri.ExecSyncRequest;
import io.nemu.proto.cri.ExecSyncResponse;
import io.nemu.proto.cri.ImageServiceGrpc;
import io.nemu.proto.cri.ImageSpec;
import io.nemu.proto.cri.ImageStatusRequest;
import io.nemu.proto.cri.ListContainersRequest;
import io.nemu.proto.cri.ListPodSandboxRequest;
import io.nemu.proto.cri.PodSandbox;
import io.nemu.proto.cri.PodSandboxConfig;
import io.nemu.proto.cri.PodSandboxStatusRequest;
import io.nemu.proto.cri.PodSandboxStatusResponse;
import io.nemu.proto.cri.RemoveContainerRequest;
import io.nemu.proto.cri.RemovePodSandboxRequest;
import io.nemu.proto.cri.RunPodSandboxRequest;
import io.nemu.proto.cri.RuntimeServiceGrpc;
import io.nemu.proto.cri.StartContainerRequest;
import io.nemu.proto.cri.StatusRequest;
import io.nemu.proto.cri.StatusResponse;
import io.nemu.proto.cri.StopContainerRequest;
import io.nemu.proto.cri.StopPodSandboxRequest;
import io.nemu.proto.cri.UpdateContainerResourcesRequest;
import io.nemu.proto.cri.LinuxContainerResources;
import io.nemu.proto.cri.VersionRequest;
import io.nemu.proto.cri.VersionResponse;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A CRI v1 client (what kubelet speaks) over containerd's gRPC unix socket. Every call has a
 * deadline; a failed call throws {@link CriException} naming the call and the pod or container.
 */
public final class CriClient implements AutoCloseable {
    /** RunPodSandbox under TCG boots a VM: minutes, not seconds. */
    public static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(240);

    private final EventLoopGroup group;
    private final ManagedChannel channel;
    private final Duration deadline;

    private CriClient(Path socket, Duration deadline) {
        this.deadline = Objects.requireNonNull(deadline, "deadline");
        this.group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        this.channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .eventLoopGroup(group)
                .channelType(EpollDomainSocketChannel.class)
                // The authority is unused on a unix socket; containerd accepts anything.
                .overrideAuthority("localhost")
                .usePlaintext()
                .maxInboundMessageSize(16 << 20)
                .build();
    }

    public static CriClient connect(Path socket) {
        return connect(socket, DEFAULT_DEADLINE);
    }

    public static CriClient connect(Path socket, Duration deadline) {
        Objects.requireNonNull(socket, "CRI socket");
        return new CriClient(socket, deadline);
    }

    private RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime(Duration d) {
        return RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(d.toMillis(), TimeUnit.MILLISECONDS);
    }

    private ImageServiceGrpc.ImageServiceBlockingStub images() {
        return ImageServiceGrpc.newBlockingStub(channel).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static <T> T call(String what, Supplier<T> rpc) {
        try {
            return rpc.get();
        } catch (StatusRuntimeException e) {
            throw new CriException(what + " failed: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription(), e);
        }
    }

    public VersionResponse version() {
        return call("Version", () -> runtime(deadline).version(VersionRequest.newBuilder().setVersion("v1").build()));
    }

    public StatusResponse status() {
        return call("Status", () -> runtime(deadline).status(StatusRequest.newBuilder().setVerbose(true).build()));
    }

    /** Whether the image is known to containerd's k8s.io namespace. */
    public boolean hasImage(String image) {
        return call("ImageStatus of " + image, () -> images().imageStatus(ImageStatusRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image)).build())).hasImage();
    }

    /** Returns the sandbox id. An empty handler means containerd's default runtime. */
    public String runPodSandbox(PodSandboxConfig config, String handler) {
        return call("RunPodSandbox of pod " + config.getMetadata().getName() + " (handler " + handler + ")",
                () -> runtime(deadline).runPodSandbox(RunPodSandboxRequest.newBuilder()
                        .setConfig(config).setRuntimeHandler(handler).build())).getPodSandboxId();
    }

    public PodSandboxStatusResponse podSandboxStatus(String podId, boolean verbose) {
        return call("PodSandboxStatus of pod " + podId, () -> runtime(deadline).podSandboxStatus(
                PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId).setVerbose(verbose).build()));
    }

    public List<PodSandbox> listPodSandboxes() {
        return call("ListPodSandbox", () -> runtime(deadline).listPodSandbox(ListPodSandboxRequest.getDefaultInstance()))
                .getItemsList();
    }

    public void stopPodSandbox(String podId) {
        call("StopPodSandbox of pod " + podId, () -> runtime(deadline).stopPodSandbox(
                StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build()));
    }

    public void removePodSandbox(String podId) {
        call("RemovePodSandbox of pod " + podId, () -> runtime(deadline).removePodSandbox(
                RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build()));
    }

    /** Returns the container id. */
    public String createContainer(String podId, ContainerConfig config, PodSandboxConfig podConfig) {
        return call("CreateContainer " + config.getMetadata().getName() + " in pod " + podId,
                () -> runtime(deadline).createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId)
                        .setConfig(config).setSandboxConfig(podConfig).build())).getContainerId();
    }

    public void startContainer(String containerId) {
        call("StartContainer " + containerId, () -> runtime(deadline).startContainer(
                StartContainerRequest.newBuilder().setContainerId(containerId).build()));
    }

    public void stopContainer(String containerId, long timeoutSeconds) {
        call("StopContainer " + containerId, () -> runtime(deadline).stopContainer(
                StopContainerRequest.newBuilder().setContainerId(containerId).setTimeout(timeoutSeconds).build()));
    }

    public void removeContainer(String containerId) {
        call("RemoveContainer " + containerId, () -> runtime(deadline).removeContainer(
                RemoveContainerRequest.newBuilder().setContainerId(containerId).build()));
    }

    /** What {@code crictl update} and the kubelet's in-place resize send. */
    public void updateContainerResources(String containerId, LinuxContainerResources resources) {
        call("UpdateContainerResources " + containerId, () -> runtime(deadline).updateContainerResources(
                UpdateContainerResourcesRequest.newBuilder().setContainerId(containerId).setLinux(resources).build()));
    }

    public ContainerStatus containerStatus(String containerId) {
        return containerStatusResponse(containerId, false).getStatus();
    }

    public ContainerStatusResponse containerStatusResponse(String containerId, boolean verbose) {
        return call("ContainerStatus of " + containerId, () -> runtime(deadline).containerStatus(
                ContainerStatusRequest.newBuilder().setContainerId(containerId).setVerbose(verbose).build()));
    }

    /** Containers of one pod (all pods if {@code podId} is null). */
    public List<io.nemu.proto.cri.Container> listContainers(String podId) {
        ContainerFilter.Builder filter = ContainerFilter.newBuilder();
        if (podId != null) {
            filter.setPodSandboxId(podId);
        }
        return call("ListContainers" + (podId == null ? "" : " of pod " + podId), () -> runtime(deadline)
                .listContainers(ListContainersRequest.newBuilder().setFilter(filter).build())).getContainersList();
    }

    public ContainerStats containerStats(String containerId) {
        return call("ContainerStats of " + containerId, () -> runtime(deadline).containerStats(
                ContainerStatsRequest.newBuilder().setContainerId(containerId).build())).getStats();
    }

    /** ExecSync with a timeout in seconds that containerd enforces (the gRPC deadline is a bit longer). */
    public ExecResult execSync(String containerId, Duration timeout, String... cmd) {
        Duration rpc = timeout.plusSeconds(30);
        ExecSyncResponse r = call("ExecSync " + String.join(" ", cmd) + " in " + containerId,
                () -> runtime(rpc).execSync(ExecSyncRequest.newBuilder().setContainerId(containerId)
                        .addAllCmd(List.of(cmd)).setTimeout(timeout.toSeconds()).build()));
        return new ExecResult(r.getExitCode(), text(r.getStdout()), text(r.getStderr()));
    }

    private static String text(ByteString b) {
        return b.toString(StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** Exit code and output of one ExecSync. */
    public record ExecResult(int exitCode, String stdout, String stderr) {
        public ExecResult requireOk(String what) {
            if (exitCode != 0) {
                throw new CriException(what + " exited with " + exitCode + "; stdout: " + stdout.strip()
                        + "; stderr: " + stderr.strip(), null);
            }
            return this;
        }
    }

    /** A CRI call that failed, naming the call and its pod or container. */
    public static final class CriException extends RuntimeException {
        public CriException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
