package io.nemu.agent;

import io.nemu.proto.kata.CreateContainerRequest;
import io.nemu.proto.kata.ReadStreamRequest;
import io.nemu.proto.kata.RemoveContainerRequest;
import io.nemu.proto.kata.StartContainerRequest;
import io.nemu.proto.kata.WaitProcessRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Prints the agent's memory after it ran containers (needs root and crun). Run it with the JVM
 * flags the guest uses, e.g. {@code -XX:+UseSerialGC -Xmx32m -Xss256k -XX:TieredStopAtLevel=1}.
 * Served in-process, so the figure excludes the ttrpc transport.
 */
public final class AgentFootprint {
    private AgentFootprint() {}

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        long t0 = System.nanoTime();
        try (TestHost host = new TestHost(List.of("ip"))) {
            System.out.printf("start: %s%n", rss());
            for (int i = 0; i < n; i++) {
                String id = "fp-" + i;
                host.rootfs(id);
                host.agent().createContainer(CreateContainerRequest.newBuilder().setContainerId(id)
                        .setOCI(host.spec(id, TestHost.process(false, "echo", "hi " + i), null)).build());
                host.agent().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
                host.agent().readStdout(ReadStreamRequest.newBuilder().setContainerId(id).setLen(100).build());
                host.agent().waitProcess(WaitProcessRequest.newBuilder().setContainerId(id).build());
                host.agent().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
                if (i == 0) {
                    System.out.printf("after 1 container: %s%n", rss());
                }
            }
            System.out.printf("after %d containers (%.0f ms each): %s%n", n,
                    (System.nanoTime() - t0) / 1e6 / n, rss());
        }
    }

    private static String rss() throws Exception {
        String rss = "?";
        String hwm = "?";
        for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (l.startsWith("VmRSS:")) {
                rss = l.substring(6).trim();
            } else if (l.startsWith("VmHWM:")) {
                hwm = l.substring(6).trim();
            }
        }
        Runtime r = Runtime.getRuntime();
        return "RSS " + rss + " (peak " + hwm + "), heap used " + (r.totalMemory() - r.freeMemory()) / 1024 + " kB, threads "
                + Thread.activeCount();
    }
}
