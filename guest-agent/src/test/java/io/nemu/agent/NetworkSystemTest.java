package io.nemu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.nemu.agent.sys.Spawner;
import io.nemu.proto.kata.ARPNeighbor;
import io.nemu.proto.kata.ARPNeighbors;
import io.nemu.proto.kata.AddARPNeighborsRequest;
import io.nemu.proto.kata.IPAddress;
import io.nemu.proto.kata.IPFamily;
import io.nemu.proto.kata.Interface;
import io.nemu.proto.kata.ListInterfacesRequest;
import io.nemu.proto.kata.ListRoutesRequest;
import io.nemu.proto.kata.Route;
import io.nemu.proto.kata.Routes;
import io.nemu.proto.kata.UpdateInterfaceRequest;
import io.nemu.proto.kata.UpdateRoutesRequest;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Interfaces, routes and neighbours through busybox {@code ip}, in a network namespace of the
 * test's own with a veth pair (nothing leaves it).
 */
@Tag("system")
class NetworkSystemTest {

    private static final String NS = "nemu-agent-" + UUID.randomUUID().toString().substring(0, 8);
    private static TestHost host;

    private static String sh(String... cmd) throws Exception {
        Spawner.Result r = Spawner.get().run(List.of(cmd), 30);
        assertEquals(0, r.status(), String.join(" ", cmd) + ": " + r.stderr());
        return r.stdout();
    }

    @BeforeAll
    static void start() throws Exception {
        sh("ip", "netns", "add", NS);
        sh("ip", "-n", NS, "link", "add", "v0", "type", "veth", "peer", "name", "v1");
        sh("ip", "-n", NS, "link", "set", "v1", "up");
        host = new TestHost(List.of("nsenter", "--net=/run/netns/" + NS, "busybox", "ip"));
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (host != null) {
                host.close();
            }
        } finally {
            Spawner.get().run(List.of("ip", "netns", "del", NS), 30);
        }
    }

    @Test
    void configureInterfaceRoutesAndNeighbours() throws Exception {
        List<Interface> before = host.agent().listInterfaces(ListInterfacesRequest.getDefaultInstance()).getInterfacesList();
        Interface v0 = before.stream().filter(i -> i.getName().equals("v0")).findFirst().orElseThrow();
        assertTrue(v0.getHwAddr().matches("([0-9a-f]{2}:){5}[0-9a-f]{2}"), v0.toString());
        assertTrue(before.stream().anyMatch(i -> i.getName().equals("lo")), before.toString());

        Interface eth0 = host.agent().updateInterface(UpdateInterfaceRequest.newBuilder().setInterface(Interface.newBuilder()
                .setName("eth0").setHwAddr(v0.getHwAddr().toUpperCase()).setMtu(1400)
                .addIPAddresses(IPAddress.newBuilder().setFamily(IPFamily.v4).setAddress("10.99.0.2").setMask("24"))
                .addIPAddresses(IPAddress.newBuilder().setFamily(IPFamily.v6).setAddress("fd00:99::2").setMask("64")))
                .build());
        assertEquals("eth0", eth0.getName());
        assertEquals(1400, eth0.getMtu());
        assertTrue(eth0.getIPAddressesList().stream().anyMatch(a -> a.getAddress().equals("10.99.0.2")
                && a.getMask().equals("24") && a.getFamily() == IPFamily.v4), eth0.toString());
        assertTrue((eth0.getRawFlags() & 1) != 0, "interface up: " + eth0);
        assertTrue(sh("ip", "-n", NS, "addr", "show", "eth0").contains("inet 10.99.0.2/24"));

        Routes routes = host.agent().updateRoutes(UpdateRoutesRequest.newBuilder().setRoutes(Routes.newBuilder()
                .addRoutes(Route.newBuilder().setDest("0.0.0.0/0").setGateway("10.99.0.1").setDevice("eth0"))
                .addRoutes(Route.newBuilder().setDest("10.99.0.0/24").setDevice("eth0").setScope(253).setSource("10.99.0.2")))
                .build());
        assertTrue(routes.getRoutesList().stream().anyMatch(r -> r.getDest().isEmpty()
                && r.getGateway().equals("10.99.0.1") && r.getDevice().equals("eth0")), routes.toString());
        assertTrue(routes.getRoutesList().stream().anyMatch(r -> r.getDest().equals("10.99.0.0/24")
                && r.getScope() == 253), routes.toString());
        assertEquals(routes.getRoutesList(),
                host.agent().listRoutes(ListRoutesRequest.getDefaultInstance()).getRoutesList());
        assertTrue(sh("ip", "-n", NS, "route", "show").contains("default via 10.99.0.1 dev eth0"));

        host.agent().addARPNeighbors(AddARPNeighborsRequest.newBuilder().setNeighbors(ARPNeighbors.newBuilder()
                .addARPNeighbors(ARPNeighbor.newBuilder().setDevice("eth0").setLladdr("02:00:00:00:00:05")
                        .setToIPAddress(IPAddress.newBuilder().setAddress("10.99.0.5")))).build());
        String neigh = sh("ip", "-n", NS, "neigh", "show", "dev", "eth0");
        assertTrue(neigh.contains("10.99.0.5 lladdr 02:00:00:00:00:05 PERMANENT"), neigh);

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> host.agent().updateInterface(
                UpdateInterfaceRequest.newBuilder().setInterface(Interface.newBuilder().setHwAddr("02:de:ad:00:00:01")).build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        e = assertThrows(StatusRuntimeException.class, () -> host.agent().updateRoutes(UpdateRoutesRequest.newBuilder()
                .setRoutes(Routes.newBuilder().addRoutes(Route.newBuilder().setDest("10.1.0.0/16"))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    }

    /** A template's clone: its NIC has the template's MAC; found by it and renamed, then given the pod's MAC by name. */
    @Test
    void aNicFoundByNameWithAnotherMacGetsTheWantedMac() throws Exception {
        sh("ip", "-n", NS, "link", "add", "c0", "type", "veth", "peer", "name", "c1");
        try {
            sh("ip", "-n", NS, "link", "set", "dev", "c0", "address", "02:6e:65:6d:75:00");
            host.agent().updateInterface(UpdateInterfaceRequest.newBuilder().setInterface(Interface.newBuilder()
                    .setName("pod1").setHwAddr("02:6e:65:6d:75:00")).build());
            Interface pod = host.agent().updateInterface(UpdateInterfaceRequest.newBuilder().setInterface(
                    Interface.newBuilder().setName("pod1").setHwAddr("0A:58:0A:D9:48:07")
                            .addIPAddresses(IPAddress.newBuilder().setAddress("10.98.0.7").setMask("24"))).build());
            assertEquals("pod1", pod.getName());
            assertEquals("0a:58:0a:d9:48:07", pod.getHwAddr());
            String link = sh("ip", "-n", NS, "addr", "show", "pod1");
            assertTrue(link.contains("link/ether 0a:58:0a:d9:48:07") && link.contains("inet 10.98.0.7/24"), link);
        } finally {
            Spawner.get().run(List.of("ip", "-n", NS, "link", "del", "pod1"), 30);
            Spawner.get().run(List.of("ip", "-n", NS, "link", "del", "c0"), 30);
        }
    }
}
