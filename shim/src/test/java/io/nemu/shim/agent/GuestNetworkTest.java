package io.nemu.shim.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nemu.proto.kata.ARPNeighbors;
import io.nemu.proto.kata.IPFamily;
import io.nemu.proto.kata.Interface;
import io.nemu.proto.kata.Route;
import io.nemu.shim.network.PodNetworkTest;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

class GuestNetworkTest {
    @Test
    void interfaceMatchesByMacAndCarriesTheVethsAddresses() throws IOException {
        List<Interface> is = GuestNetwork.interfaces(PodNetworkTest.sampleNetwork());
        assertEquals(1, is.size());
        Interface i = is.get(0);
        assertEquals("eth0", i.getName());
        assertEquals("eth0", i.getDevice());
        assertEquals("d2:04:8e:79:3b:ad", i.getHwAddr());
        assertEquals(1500, i.getMtu());
        assertEquals(List.of("v4 10.213.250.2/30", "v6 fd00:213::2/64", "v6 fe80::d004:8eff:fe79:3bad/64"),
                i.getIPAddressesList().stream().map(a -> a.getFamily() + " " + a.getAddress() + "/" + a.getMask())
                        .toList());
    }

    @Test
    void aClonesNicIsFoundByTheTemplatesMacAndNamedAsTheVeth() throws IOException {
        List<Interface> is = GuestNetwork.cloneRenames(PodNetworkTest.sampleNetwork());
        assertEquals(1, is.size());
        assertEquals("eth0", is.get(0).getName());
        assertEquals(io.nemu.vmm.template.TemplateNics.mac(0), is.get(0).getHwAddr());
        assertEquals(0, is.get(0).getIPAddressesCount());
    }

    @Test
    void linkRoutesComeBeforeGatewayRoutes() throws IOException {
        List<Route> rs = GuestNetwork.routes(PodNetworkTest.sampleNetwork()).getRoutesList();
        assertEquals(List.of("10.213.250.0/30 via - src 10.213.250.2 scope 253", "fd00:213::/64 via - src - scope 0",
                "fe80::/64 via - src - scope 0", " via 10.213.250.1 src - scope 0"),
                rs.stream().map(r -> r.getDest() + " via " + (r.getGateway().isEmpty() ? "-" : r.getGateway()) + " src "
                        + (r.getSource().isEmpty() ? "-" : r.getSource()) + " scope " + r.getScope()).toList());
        rs.forEach(r -> assertEquals("eth0", r.getDevice()));
        assertEquals(IPFamily.v6, rs.get(1).getFamily());
        assertEquals(IPFamily.v4, rs.get(3).getFamily());
    }

    @Test
    void permanentNeighbours() throws IOException {
        ARPNeighbors n = GuestNetwork.neighbors(PodNetworkTest.sampleNetwork());
        assertEquals(1, n.getARPNeighborsCount());
        assertEquals("10.213.250.1", n.getARPNeighbors(0).getToIPAddress().getAddress());
        assertEquals("02:11:22:33:44:55", n.getARPNeighbors(0).getLladdr());
        assertEquals("eth0", n.getARPNeighbors(0).getDevice());
        assertEquals(0x80, n.getARPNeighbors(0).getState());
    }
}
