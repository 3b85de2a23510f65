package io.nemu.shim.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The tcfilter plumbing for real, in a network namespace of the test's own (root only): a veth with its pod
 * end in the namespace, no traffic sent.
 */
class PodNetworkNetnsTest {
    private final String name = "nemu-ut-" + ProcessHandle.current().pid();
    private final String hostEnd = "nut" + ProcessHandle.current().pid() + "h";
    private Path netns;

    @TempDir
    Path state;

    private static void sh(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(20, TimeUnit.SECONDS), String.join(" ", cmd) + " hangs");
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + ": " + out);
        }
    }

    @BeforeEach
    void makeNetns() throws Exception {
        assumeTrue(ProcessHandle.current().info().user().map("root"::equals).orElse(false), "needs root");
        assumeTrue(Files.isExecutable(Path.of(NetnsCommands.tool("ip"))), "needs iproute2");
        assumeTrue(hostEnd.length() <= 15, "pid too long for an interface name");
        sh("ip", "netns", "add", name);
        netns = Path.of("/var/run/netns", name);
        sh("ip", "link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", name);
        sh("ip", "-n", name, "link", "set", "eth0", "mtu", "1400", "up");
        sh("ip", "-n", name, "addr", "add", "10.213.251.2/30", "dev", "eth0");
        sh("ip", "-n", name, "route", "add", "default", "via", "10.213.251.1");
    }

    @AfterEach
    void removeNetns() throws Exception {
        if (netns != null) {
            // Deleting the namespace deletes the veth pair with it.
            sh("ip", "netns", "del", name);
            new ProcessBuilder("ip", "link", "del", hostEnd).start().waitFor(10, TimeUnit.SECONDS);
        }
    }

    private List<String> ingress() throws IOException {
        return IpJson.ingressDevices(new NetnsCommands(netns).run(NetnsCommands.qdiscShow()));
    }

    private List<String> links() throws IOException {
        return IpJson.links(new NetnsCommands(netns).run(NetnsCommands.addrShow())).stream().map(IpJson.Link::name)
                .toList();
    }

    @Test
    void setUpAndTearDownInARealNamespace() throws Exception {
        PodNetwork net = PodNetwork.discover(netns);
        assertEquals(1, net.endpoints().size());
        assertEquals(1400, net.endpoints().get(0).mtu());
        assertEquals(List.of(new Endpoint.IpAddress(false, "10.213.251.2", 30)), net.endpoints().get(0).addresses()
                .stream().filter(a -> !a.v6()).toList());
        assertTrue(net.routes().contains(new Endpoint.Route(false, "", "10.213.251.1", "eth0", "", 0)), net.routes()
                .toString());
        net.setUp(state);
        assertTrue(Files.exists(state.resolve(PodNetwork.RECORD)));
        assertEquals(List.of("lo", "eth0", "tap0_kata"), links());
        assertEquals(List.of("eth0", "tap0_kata"), ingress());
        String tap = new NetnsCommands(netns).run(List.of("ip", "-d", "-j", "link", "show", "dev", "tap0_kata"));
        assertTrue(tap.contains("\"mtu\":1400") && tap.contains("\"type\":\"tap\""), tap);
        String filter = new NetnsCommands(netns).run(List.of("tc", "-j", "filter", "show", "dev", "eth0", "parent", "ffff:"));
        assertTrue(filter.contains("\"to_dev\":\"tap0_kata\"") && filter.contains("\"mirred_action\":\"redirect\""), filter);

        // A second discovery (a restarted shim) does not take our tap for an endpoint.
        assertEquals(List.of("eth0"), PodNetwork.discover(netns).endpoints().stream().map(Endpoint::veth).toList());

        List<String> done = net.tearDown();
        assertEquals(2, done.size(), done.toString());
        assertEquals(List.of("lo", "eth0"), links());
        assertEquals(List.of(), ingress());
        assertFalse(Files.exists(state.resolve(PodNetwork.RECORD)));
        assertEquals(List.of(), net.tearDown(), "a second tear-down finds nothing to do");
    }

    @Test
    void crashPathRemovesWhatTheRecordLists() throws Exception {
        PodNetwork.discover(netns).setUp(state);
        assertEquals(List.of("eth0", "tap0_kata"), ingress());
        List<String> done = PodNetwork.cleanUpRecorded(state);
        assertEquals(2, done.size(), done.toString());
        assertEquals(List.of("lo", "eth0"), links());
        assertEquals(List.of(), ingress());
    }

    @Test
    void aFailedSetUpLeavesNothing() throws Exception {
        // Someone else's ingress qdisc on the veth: the third command fails, the tap goes again.
        new NetnsCommands(netns).run(NetnsCommands.addIngress("eth0"));
        IOException e = assertThrows(IOException.class, () -> PodNetwork.discover(netns).setUp(state));
        assertTrue(e.getMessage().contains("tc qdisc add dev eth0 handle ffff: ingress"), e.getMessage());
        assertEquals(List.of("lo", "eth0"), links());
    }
}
