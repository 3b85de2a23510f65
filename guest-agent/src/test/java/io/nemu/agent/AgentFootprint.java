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
        try (TestHost host = new TestHost(List.of("ip"))) {
            System.out.printf("start: %s%n", rss());
            long[] phase = new long[4];
            for (int i = 0; i < n; i++) {
                String id = "fp-" + i;
                host.rootfs(id);
                long a = System.nanoTime();
                host.agent().createContainer(CreateContainerRequest.newBuilder().setContainerId(id)
                        .setOCI(host.spec(id, TestHost.process(false, "echo", "hi " + i), null)).build());
                long b = System.nanoTime();
                host.agent().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
                long c = System.nanoTime();
                host.agent().readStdout(ReadStreamRequest.newBuilder().setContainerId(id).setLen(100).build());
                host.agent().waitProcess(WaitProcessRequest.newBuilder().setContainerId(id).build());
                long d = System.nanoTime();
                host.agent().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
                long e = System.nanoTime();
                if (i > 0) { // the first one pays for class loading
                    phase[0] += b - a;
                    phase[1] += c - b;
                    phase[2] += d - c;
                    phase[3] += e - d;
                } else {
                    System.out.printf("after 1 container: %s%n", rss());
                }
            }
            if (n > 1) {
                System.out.printf("per container (ms, mean of %d): create %.0f, start %.0f, output+exit %.0f, remove %.0f%n",
                        n - 1, phase[0] / 1e6 / (n - 1), phase[1] / 1e6 / (n - 1), phase[2] / 1e6 / (n - 1),
                        phase[3] / 1e6 / (n - 1));
            }
            System.out.printf("after %d containers: %s%n", n, rss());
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
