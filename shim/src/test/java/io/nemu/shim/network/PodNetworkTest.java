package io.nemu.shim.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.nemu.vmm.NetDevice;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Parsing of real iproute2 output (captured on the build machine) and the commands the tcfilter model runs. */
public class PodNetworkTest {
    private static final Path NS = Path.of("/var/run/netns/cni-test");

    @TempDir
    Path tmp;

    static String sample(String name) throws IOException {
        try (InputStream in = PodNetworkTest.class.getResourceAsStream("/network/" + name)) {
            if (in == null) {
                throw new IOException("test resource /network/" + name + " missing");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** A pod network read from the sample `ip -j` outputs (also for the agent's tests). */
    public static PodNetwork sampleNetwork() throws IOException {
        return PodNetwork.fromJson(new NetnsCommands(NS), sample("ip-addr.json"), sample("ip-route4.json"),
                sample("ip-route6.json"), sample("ip-neigh.json"));
    }

    @Test
    void endpointsFromIpAddrSkipLoopback() throws IOException {
        PodNetwork net = sampleNetwork();
        assertEquals(1, net.endpoints().size());
        Endpoint e = net.endpoints().get(0);
        assertEquals("eth0", e.veth());
        assertEquals("d2:04:8e:79:3b:ad", e.mac());
        assertEquals(1500, e.mtu());
        assertEquals("tap0_kata", e.tap());
        assertEquals(List.of(new Endpoint.IpAddress(false, "10.213.250.2", 30),
                new Endpoint.IpAddress(true, "fd00:213::2", 64),
                new Endpoint.IpAddress(true, "fe80::d004:8eff:fe79:3bad", 64)), e.addresses());
        assertEquals(List.of(new NetDevice("net0", "tap0_kata", "d2:04:8e:79:3b:ad")), net.devices());
    }

    @Test
    void routesOfTheEndpointsBothFamilies() throws IOException {
        PodNetwork net = sampleNetwork();
        assertEquals(List.of(
                new Endpoint.Route(false, "", "10.213.250.1", "eth0", "", 0),
                new Endpoint.Route(false, "10.213.250.0/30", "", "eth0", "10.213.250.2", 253),
                new Endpoint.Route(true, "fd00:213::/64", "", "eth0", "", 0),
                new Endpoint.Route(true, "fe80::/64", "", "eth0", "", 0)), net.routes());
    }

    @Test
    void onlyPermanentNeighboursWithAnAddress() throws IOException {
        assertEquals(List.of(new Endpoint.Neighbor(false, "10.213.250.1", "02:11:22:33:44:55", "eth0")),
                sampleNetwork().neighbors());
        String mixed = "[{\"dst\":\"10.0.0.9\",\"dev\":\"eth0\",\"lladdr\":\"02:00:00:00:00:09\",\"state\":[\"REACHABLE\"]},"
                + "{\"dst\":\"10.0.0.8\",\"dev\":\"eth0\",\"state\":[\"PERMANENT\"]},"
                + "{\"dst\":\"10.0.0.7\",\"dev\":\"eth9\",\"lladdr\":\"02:00:00:00:00:07\",\"state\":[\"PERMANENT\"]},"
                + "{\"dst\":\"fd00::1\",\"dev\":\"eth0\",\"lladdr\":\"02:AA:00:00:00:01\",\"state\":[\"PERMANENT\"]}]";
        assertEquals(List.of(new Endpoint.Neighbor(true, "fd00::1", "02:aa:00:00:00:01", "eth0")),
                IpJson.permanentNeighbors(mixed, java.util.Set.of("eth0")));
    }

    @Test
    void nonUnicastAndForeignRoutesAreLeftOut() throws IOException {
        String json = "[{\"type\":\"blackhole\",\"dst\":\"10.9.0.0/16\",\"flags\":[]},"
                + "{\"dst\":\"10.8.0.0/16\",\"gateway\":\"10.1.0.1\",\"dev\":\"eth1\",\"flags\":[]},"
                + "{\"dst\":\"10.7.0.5\",\"dev\":\"eth0\",\"scope\":\"host\",\"flags\":[]}]";
        assertEquals(List.of(new Endpoint.Route(false, "10.7.0.5", "", "eth0", "", 254)),
                IpJson.routes(json, false, java.util.Set.of("eth0")));
    }

    @Test
    void ourTapsAndNonEthernetLinksAreNotEndpoints() throws IOException {
        String addr = "[{\"ifname\":\"lo\",\"link_type\":\"loopback\",\"mtu\":65536,\"address\":\"00:00:00:00:00:00\"},"
                + "{\"ifname\":\"eth0\",\"link_type\":\"ether\",\"mtu\":1450,\"address\":\"0A:58:0A:F4:00:05\",\"addr_info\":[]},"
                + "{\"ifname\":\"tap0_kata\",\"link_type\":\"ether\",\"mtu\":1450,\"address\":\"7e:62:19:17:6e:9b\"},"
                + "{\"ifname\":\"wg0\",\"link_type\":\"none\",\"mtu\":1420},"
                + "{\"ifname\":\"net1\",\"link_type\":\"ether\",\"mtu\":9000,\"address\":\"02:00:00:00:00:02\"}]";
        PodNetwork net = PodNetwork.fromJson(new NetnsCommands(NS), addr, "[]", "", "[]");
        assertEquals(List.of("eth0/tap0_kata/0a:58:0a:f4:00:05/1450", "net1/tap1_kata/02:00:00:00:00:02/9000"),
                net.endpoints().stream().map(e -> e.veth() + "/" + e.tap() + "/" + e.mac() + "/" + e.mtu()).toList());
    }

    @Test
    void garbageFromIpIsAClearError() {
        IOException e = assertThrows(IOException.class, () -> IpJson.links("{\"ifname\":\"eth0\"}"));
        assertTrue(e.getMessage().contains("ip -j addr show"), e.getMessage());
        assertThrows(IOException.class, () -> IpJson.links("not json"));
    }

    @Test
    void ingressQdiscsFromTc() throws IOException {
        assertEquals(List.of("eth0", "tap0_kata"), IpJson.ingressDevices(sample("tc-qdisc.json")));
    }

    @Test
    void tcfilterCommandLines() {
        Endpoint e = new Endpoint("eth0", "d2:04:8e:79:3b:ad", 1450, List.of(), "tap0_kata");
        assertEquals(List.of(
                "ip tuntap add dev tap0_kata mode tap",
                "ip link set dev tap0_kata mtu 1450 up",
                "tc qdisc add dev eth0 handle ffff: ingress",
                "tc qdisc add dev tap0_kata handle ffff: ingress",
                "tc filter add dev eth0 parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev tap0_kata",
                "tc filter add dev tap0_kata parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev eth0"),
                PodNetwork.setUpCommands(e).stream().map(c -> String.join(" ", c)).toList());
        assertEquals(List.of("tc qdisc del dev eth0 handle ffff: ingress", "ip link del dev tap0_kata"),
                PodNetwork.tearDownCommands("eth0", "tap0_kata").stream().map(c -> String.join(" ", c)).toList());
        List<String> argv = new NetnsCommands(NS).argv(NetnsCommands.addTap("tap0_kata"));
        assertTrue(argv.get(0).endsWith("/nsenter"), argv.toString());
        assertEquals("--net=/var/run/netns/cni-test", argv.get(1));
        assertEquals("--", argv.get(2));
        assertTrue(argv.get(3).endsWith("/ip"), argv.toString());
        assertEquals(List.of("tuntap", "add", "dev", "tap0_kata", "mode", "tap"), argv.subList(4, argv.size()));
    }

    @Test
    void netnsFromTheSpec() throws IOException {
        ObjectMapper m = new ObjectMapper();
        assertEquals(Optional.of(Path.of("/var/run/netns/cni-1")), PodNetwork.netnsOf(m.readTree(
                "{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\",\"path\":\"/var/run/netns/cni-1\"}]}}"),
                "s1"));
        // plain ctr run: a new namespace without a path
        assertEquals(Optional.empty(), PodNetwork.netnsOf(m.readTree(
                "{\"linux\":{\"namespaces\":[{\"type\":\"network\"}]}}"), "s2"));
        // host network
        assertEquals(Optional.empty(), PodNetwork.netnsOf(m.readTree("{\"linux\":{\"namespaces\":[{\"type\":\"pid\"}]}}"),
                "s3"));
        assertEquals(Optional.empty(), PodNetwork.netnsOf(m.readTree("{}"), "s4"));
    }

    @Test
    void recordListsWhatIsRemovedAfterACrash() throws IOException {
        Endpoint e = new Endpoint("eth0", "d2:04:8e:79:3b:ad", 1500, List.of(), "tap0_kata");
        Path gone = tmp.resolve("no-such-netns");
        PodNetwork.writeRecord(tmp.resolve(PodNetwork.RECORD), gone, List.of(e));
        String json = Files.readString(tmp.resolve(PodNetwork.RECORD));
        assertTrue(json.contains("\"tap\" : \"tap0_kata\""), json);
        List<String> done = PodNetwork.cleanUpRecorded(tmp);
        assertEquals(List.of("network namespace " + gone + " is gone: nothing to remove there"), done);
        assertFalse(Files.exists(tmp.resolve(PodNetwork.RECORD)));
        assertEquals(List.of(), PodNetwork.cleanUpRecorded(tmp), "no record, nothing to do");
    }

    @Test
    void aRecordNamingSomeoneElsesDeviceIsRefused() throws IOException {
        Files.writeString(tmp.resolve(PodNetwork.RECORD),
                "{\"netns\":\"/var/run/netns/x\",\"endpoints\":[{\"veth\":\"eth0\",\"tap\":\"eth1\"}]}");
        List<String> done = PodNetwork.cleanUpRecorded(tmp);
        assertEquals(1, done.size());
        assertTrue(done.get(0).contains("not a veth and one of our taps"), done.toString());
    }
}
