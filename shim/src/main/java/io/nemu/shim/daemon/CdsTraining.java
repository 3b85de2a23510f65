package io.nemu.shim.daemon;

import io.nemu.proto.containerd.task.v2.ConnectRequest;
import io.nemu.proto.containerd.task.v2.CreateTaskRequest;
import io.nemu.proto.containerd.task.v2.ShutdownRequest;
import io.nemu.proto.containerd.task.v2.StateRequest;
import io.nemu.proto.containerd.task.v2.TaskGrpc;
import io.nemu.shim.mount.SafeTree;
import io.nemu.ttrpc.TtrpcClient;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Build-time run of the shim daemon's code paths for its AppCDS archive (packaging's make-cds.sh):
 * a daemon in this JVM, then Connect, a Create that fails early (no kernel, no shared folder: nothing
 * is started or mounted), State and Shutdown over ttrpc. Set NEMU_RUN_ROOT to a scratch folder.
 */
public final class CdsTraining {
    private CdsTraining() {
    }

    public static void main(String[] argv) throws Exception {
        Path dir = Files.createTempDirectory("nemu-cds-");
        Path bundle = Files.createDirectories(dir.resolve("bundle"));
        Files.writeString(bundle.resolve("config.json"), "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"true\"]},"
                + "\"root\":{\"path\":\"rootfs\"},\"annotations\":{}}");
        Path config = dir.resolve("configuration.toml");
        Files.writeString(config, "[hypervisor.qemu]\nkernel = \"missing/vmlinux\"\ninitrd = \"missing/initrd\"\n"
                + "shared_fs = \"none\"\n[agent.kata]\ndial_timeout = 1\n[runtime]\n");
        Path socket = dir.resolve("shim.sock");
        String id = "cds-training";
        System.setProperty("nemu.sandbox", id);
        ShimDaemon.Settings args = new ShimDaemon.Settings(id, "cds", dir.resolve("containerd.sock").toString(), socket,
                config.toString());
        Thread daemon = new Thread(() -> ShimDaemon.run(args, new PrintStream(OutputStream.nullOutputStream())), "daemon");
        daemon.start();
        for (int i = 0; i < 200 && !answers(socket); i++) {
            Thread.sleep(25);
        }
        try (TtrpcClient c = TtrpcClient.connect(socket)) {
            TaskGrpc.TaskBlockingStub task = TaskGrpc.newBlockingStub(c).withDeadlineAfter(30, TimeUnit.SECONDS);
            try {
                task.connect(ConnectRequest.newBuilder().setId(id).build());
            } catch (io.grpc.StatusRuntimeException expected) {
                // no pod holds it yet
            }
            try {
                task.create(CreateTaskRequest.newBuilder().setId(id).setBundle(bundle.toString()).build());
            } catch (io.grpc.StatusRuntimeException expected) {
                // the missing kernel
            }
            try {
                task.state(StateRequest.newBuilder().setId(id).build());
            } catch (io.grpc.StatusRuntimeException expected) {
                // not found
            }
            task.shutdown(ShutdownRequest.newBuilder().setId(id).build());
        }
        daemon.join(20_000);
        SafeTree.host().remove(dir);
        System.exit(0);
    }

    private static boolean answers(Path socket) {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            return true;
        } catch (Exception e) {
            return false;
        }
    }
}
