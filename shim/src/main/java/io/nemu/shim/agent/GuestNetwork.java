package io.nemu.shim.agent;

import io.grpc.StatusRuntimeException;
import io.nemu.proto.kata.ARPNeighbor;
import io.nemu.proto.kata.ARPNeighbors;
import io.nemu.proto.kata.AddARPNeighborsRequest;
import io.nemu.proto.kata.AgentServiceGrpc;
import io.nemu.proto.kata.IPAddress;
import io.nemu.proto.kata.IPFamily;
import io.nemu.proto.kata.Interface;
import io.nemu.proto.kata.Route;
import io.nemu.proto.kata.Routes;
import io.nemu.proto.kata.UpdateInterfaceRequest;
import io.nemu.proto.kata.UpdateRoutesRequest;
import io.nemu.shim.network.Endpoint;
import io.nemu.shim.network.PodNetwork;
import io.nemu.vmm.template.TemplateNics;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pod network as the Kata agent API says it: an Interface per endpoint (found in the guest by its MAC,
 * named as the veth; in a clone first found by the template's MAC, see {@link #cloneRenames}), the routes
 * (link-scope first, so gateways are reachable when their routes are added) and the permanent neighbours.
 */
final class GuestNetwork {
    private static final Logger log = LoggerFactory.getLogger(GuestNetwork.class);

    private GuestNetwork() {
    }

    static IPFamily family(boolean v6) {
        return v6 ? IPFamily.v6 : IPFamily.v4;
    }

    static List<Interface> interfaces(PodNetwork net) {
        List<Interface> out = new ArrayList<>();
        for (Endpoint e : net.endpoints()) {
            Interface.Builder b = Interface.newBuilder().setDevice(e.veth()).setName(e.veth()).setHwAddr(e.mac())
                    .setMtu(e.mtu());
            for (Endpoint.IpAddress a : e.addresses()) {
                b.addIPAddresses(IPAddress.newBuilder().setFamily(family(a.v6())).setAddress(a.address())
                        .setMask(Integer.toString(a.prefix())));
            }
            out.add(b.build());
        }
        return out;
    }

    /**
     * A clone's NICs still have the template's MACs ({@link TemplateNics#mac}, in endpoint order): each is found by
     * it and given the veth's name, so that the endpoint's own Interface then finds it by name and sets the pod's MAC.
     */
    static List<Interface> cloneRenames(PodNetwork net) {
        List<Interface> out = new ArrayList<>();
        for (int i = 0; i < net.endpoints().size(); i++) {
            String veth = net.endpoints().get(i).veth();
            out.add(Interface.newBuilder().setDevice(veth).setName(veth).setHwAddr(TemplateNics.mac(i)).build());
        }
        return out;
    }

    static Routes routes(PodNetwork net) {
        Routes.Builder out = Routes.newBuilder();
        List<Endpoint.Route> viaGateway = new ArrayList<>();
        for (Endpoint.Route r : net.routes()) {
            if (r.gateway().isEmpty()) {
                out.addRoutes(route(r));
            } else {
                viaGateway.add(r);
            }
        }
        viaGateway.forEach(r -> out.addRoutes(route(r)));
        return out.build();
    }

    private static Route route(Endpoint.Route r) {
        return Route.newBuilder().setFamily(family(r.v6())).setDest(r.dest()).setGateway(r.gateway())
                .setDevice(r.device()).setSource(r.source()).setScope(r.scope()).build();
    }

    static ARPNeighbors neighbors(PodNetwork net) {
        ARPNeighbors.Builder out = ARPNeighbors.newBuilder();
        for (Endpoint.Neighbor n : net.neighbors()) {
            out.addARPNeighbors(ARPNeighbor.newBuilder().setToIPAddress(IPAddress.newBuilder()
                    .setFamily(family(n.v6())).setAddress(n.address())).setDevice(n.device()).setLladdr(n.mac())
                    // NUD_PERMANENT
                    .setState(0x80));
        }
        return out.build();
    }

    /**
     * UpdateInterface for each endpoint (of a clone: after {@link #cloneRenames}), UpdateRoutes, AddARPNeighbors:
     * after Health, before CreateSandbox; each call within {@code timeout}.
     */
    static void apply(PodNetwork net, boolean cloned, AgentServiceGrpc.AgentServiceBlockingStub agent,
            Duration timeout) throws IOException {
        long callMs = timeout.toMillis();
        long t0 = System.nanoTime();
        String step = "UpdateInterface";
        try {
            List<Interface> calls = new ArrayList<>(cloned ? cloneRenames(net) : List.of());
            calls.addAll(interfaces(net));
            for (Interface i : calls) {
                step = "UpdateInterface " + i.getName() + " (" + i.getHwAddr() + ")";
                Interface got = agent.withDeadlineAfter(callMs, TimeUnit.MILLISECONDS)
                        .updateInterface(UpdateInterfaceRequest.newBuilder().setInterface(i).build());
                log.info("guest interface {} {}: {}", got.getName(), got.getHwAddr(), got.getIPAddressesList().stream()
                        .map(a -> a.getAddress() + "/" + a.getMask()).toList());
            }
            Routes routes = routes(net);
            if (routes.getRoutesCount() > 0) {
                step = "UpdateRoutes";
                agent.withDeadlineAfter(callMs, TimeUnit.MILLISECONDS)
                        .updateRoutes(UpdateRoutesRequest.newBuilder().setRoutes(routes).build());
            }
            ARPNeighbors neigh = neighbors(net);
            if (neigh.getARPNeighborsCount() > 0) {
                step = "AddARPNeighbors";
                agent.withDeadlineAfter(callMs, TimeUnit.MILLISECONDS)
                        .addARPNeighbors(AddARPNeighborsRequest.newBuilder().setNeighbors(neigh).build());
            }
        } catch (StatusRuntimeException e) {
            throw new IOException("guest network: agent " + step + ": " + e.getStatus().getCode() + " "
                    + e.getStatus().getDescription(), e);
        }
        log.info("guest network configured in {} ms: {} interface(s), {} route(s), {} neighbour(s)",
                (System.nanoTime() - t0) / 1_000_000, net.endpoints().size(), net.routes().size(),
                net.neighbors().size());
    }
}
