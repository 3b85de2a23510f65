package io.nemu.shim.network;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.vmm.NetDevice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pod's network in Kata's tcfilter model. CNI left a veth (with the pod's IP, routes, MAC) in the pod's
 * network namespace; for each such interface the shim creates a tap beside it and two tc u32 match-all
 * filters that redirect everything arriving on one to the other. QEMU's virtio-net NIC on the tap takes
 * the veth's MAC, and the guest agent gives it the veth's addresses and routes, so the guest owns the
 * pod's IP while the netns keeps what CNI made.
 *
 * <p>What was created is recorded in the sandbox's state folder before it is created, so that the shim's
 * {@code delete} command can remove it after a crash ({@link #cleanUpRecorded}).
 */
public final class PodNetwork {
    private static final Logger log = LoggerFactory.getLogger(PodNetwork.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Our own taps, never taken for endpoints. */
    private static final Pattern OUR_TAP = Pattern.compile("tap\\d+_kata");
    /** File in the sandbox state folder listing the netns, taps and veths the shim touched. */
    public static final String RECORD = "network.json";

    private final NetnsCommands ns;
    private final List<Endpoint> endpoints;
    private final List<Endpoint.Route> routes;
    private final List<Endpoint.Neighbor> neighbors;
    private Path record;

    PodNetwork(NetnsCommands ns, List<Endpoint> endpoints, List<Endpoint.Route> routes,
            List<Endpoint.Neighbor> neighbors) {
        this.ns = ns;
        this.endpoints = List.copyOf(endpoints);
        this.routes = List.copyOf(routes);
        this.neighbors = List.copyOf(neighbors);
    }

    public Path netns() {
        return ns.netns();
    }

    public List<Endpoint> endpoints() {
        return endpoints;
    }

    public List<Endpoint.Route> routes() {
        return routes;
    }

    public List<Endpoint.Neighbor> neighbors() {
        return neighbors;
    }

    /**
     * The network namespace path of an OCI spec ({@code linux.namespaces[type=network].path}); empty when the
     * spec asks for a fresh namespace (no path: plain {@code ctr run}) or none (host network), with the
     * reason logged.
     */
    public static Optional<Path> netnsOf(JsonNode spec, String sandboxId) {
        for (JsonNode n : spec.path("linux").path("namespaces")) {
            if (n.path("type").asText().equals("network")) {
                String p = n.path("path").asText("");
                if (p.isEmpty()) {
                    log.info("sandbox {}: the spec asks for a new network namespace without a path: the VM gets no NIC",
                            sandboxId);
                    return Optional.empty();
                }
                return Optional.of(Path.of(p));
            }
        }
        log.info("sandbox {}: the spec has no network namespace (host network): the VM gets no NIC", sandboxId);
        return Optional.empty();
    }

    /** Reads the interfaces (but lo and our taps), routes and permanent neighbours of the namespace. */
    public static PodNetwork discover(Path netns) throws IOException {
        if (!Files.exists(netns)) {
            throw new IOException("network namespace " + netns + " does not exist");
        }
        NetnsCommands ns = new NetnsCommands(netns);
        return fromJson(ns, ns.run(NetnsCommands.addrShow()), ns.run(NetnsCommands.routeShow(false)),
                ns.run(NetnsCommands.routeShow(true)), ns.run(NetnsCommands.neighShow()));
    }

    static PodNetwork fromJson(NetnsCommands ns, String addr, String route4, String route6, String neigh)
            throws IOException {
        List<Endpoint> eps = new ArrayList<>();
        for (IpJson.Link l : IpJson.links(addr)) {
            if (l.linkType().equals("loopback") || OUR_TAP.matcher(l.name()).matches()) {
                continue;
            }
            if (!l.linkType().equals("ether")) {
                log.warn("netns {}: interface {} is of link type '{}', not Ethernet: not passed to the VM", ns.netns(),
                        l.name(), l.linkType());
                continue;
            }
            eps.add(new Endpoint(l.name(), l.mac(), l.mtu(), l.addresses(), Endpoint.tapName(eps.size())));
        }
        Set<String> devs = new LinkedHashSet<>();
        eps.forEach(e -> devs.add(e.veth()));
        List<Endpoint.Route> rs = new ArrayList<>(IpJson.routes(route4, false, devs));
        rs.addAll(IpJson.routes(route6, true, devs));
        return new PodNetwork(ns, eps, rs, IpJson.permanentNeighbors(neigh, devs));
    }

    /**
     * Discovers the namespace's interfaces, creates their taps and filters (recorded in {@code stateDir}) and
     * gives the VM a NIC on each, QEMU running in the namespace. Empty when the namespace has no interface
     * to pass (the VM gets no NIC).
     */
    public static Optional<PodNetwork> attach(Path netns, Path stateDir, io.nemu.vmm.VmConfig.Builder vm)
            throws IOException {
        PodNetwork net = discover(netns);
        if (net.endpoints().isEmpty()) {
            log.info("network namespace {} has no interface but lo: the VM gets no NIC", netns);
            return Optional.empty();
        }
        net.setUp(stateDir);
        net.devices().forEach(vm::netDevice);
        vm.netns(netns);
        return Optional.of(net);
    }

    /** The VM's device id of the pod's NIC {@code index} (a template's key counts these). */
    public static String nicId(int index) {
        return "net" + index;
    }

    /** The VM's NICs: one per endpoint, on its tap, with the veth's MAC. */
    public List<NetDevice> devices() {
        List<NetDevice> out = new ArrayList<>();
        for (int i = 0; i < endpoints.size(); i++) {
            out.add(new NetDevice(nicId(i), endpoints.get(i).tap(), endpoints.get(i).mac()));
        }
        return out;
    }

    /** The commands that connect one endpoint's veth and tap, in order. */
    static List<List<String>> setUpCommands(Endpoint e) {
        return List.of(NetnsCommands.addTap(e.tap()), NetnsCommands.mtuUp(e.tap(), e.mtu()),
                NetnsCommands.addIngress(e.veth()), NetnsCommands.addIngress(e.tap()),
                NetnsCommands.redirect(e.veth(), e.tap()), NetnsCommands.redirect(e.tap(), e.veth()));
    }

    /** The commands that undo {@link #setUpCommands}: the veth's ingress qdisc (and its filter), the tap. */
    static List<List<String>> tearDownCommands(String veth, String tap) {
        return List.of(NetnsCommands.delIngress(veth), NetnsCommands.delLink(tap));
    }

    /**
     * Creates the taps and tc filters, after recording them in {@code stateDir}. On failure what was made is
     * removed again and the error names the command that failed.
     */
    public void setUp(Path stateDir) throws IOException {
        record = stateDir.resolve(RECORD);
        writeRecord(record, ns.netns(), endpoints);
        long t0 = System.nanoTime();
        try {
            for (Endpoint e : endpoints) {
                for (List<String> c : setUpCommands(e)) {
                    ns.run(c);
                }
            }
        } catch (IOException e) {
            for (String line : tearDown()) {
                log.info("{}", line);
            }
            throw new IOException("pod network in " + ns.netns() + ": " + e.getMessage(), e);
        }
        log.info("pod network in {}: {} in {} ms", ns.netns(), endpoints.stream()
                .map(e -> e.veth() + "<->" + e.tap() + " " + e.mac() + " mtu " + e.mtu() + " " + e.addresses()).toList(),
                (System.nanoTime() - t0) / 1_000_000);
    }

    /** Removes the taps and the veths' ingress qdiscs (if the netns still exists), then the record. */
    public List<String> tearDown() {
        List<String> done = new ArrayList<>();
        List<String[]> pairs = endpoints.stream().map(e -> new String[] {e.veth(), e.tap()}).toList();
        done.addAll(tearDown(ns, pairs));
        if (record != null) {
            try {
                Files.deleteIfExists(record);
            } catch (IOException e) {
                done.add("cannot remove " + record + ": " + e.getMessage());
            }
        }
        return done;
    }

    private static List<String> tearDown(NetnsCommands ns, List<String[]> vethTap) {
        List<String> done = new ArrayList<>();
        if (!Files.exists(ns.netns())) {
            done.add("network namespace " + ns.netns() + " is gone: nothing to remove there");
            return done;
        }
        for (String[] p : vethTap) {
            for (List<String> c : tearDownCommands(p[0], p[1])) {
                try {
                    NetnsCommands.Result r = ns.exec(c);
                    if (r.ok()) {
                        done.add("ran " + String.join(" ", c) + " in " + ns.netns());
                    } else if (!gone(r.stderr())) {
                        done.add("`" + String.join(" ", c) + "` in " + ns.netns() + " failed: " + r.stderr());
                    }
                } catch (IOException e) {
                    done.add(e.getMessage());
                }
            }
        }
        return done;
    }

    /** iproute2's words for "there is nothing to delete". */
    private static boolean gone(String stderr) {
        String s = stderr.toLowerCase(java.util.Locale.ROOT);
        return s.contains("cannot find") || s.contains("does not exist") || s.contains("no such file")
                || s.contains("invalid handle") || s.contains("cannot delete qdisc with handle of zero")
                || s.contains("no such device");
    }

    static void writeRecord(Path file, Path netns, List<Endpoint> endpoints) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("netns", netns.toString());
        ArrayNode eps = root.putArray("endpoints");
        for (Endpoint e : endpoints) {
            eps.addObject().put("veth", e.veth()).put("tap", e.tap());
        }
        Files.createDirectories(file.getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.write(tmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root));
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * The crash path ({@code delete}): removes what {@code stateDir}'s record lists, then the record.
     * Returns a line per thing done; nothing when there is no record.
     */
    public static List<String> cleanUpRecorded(Path stateDir) {
        Path file = stateDir.resolve(RECORD);
        List<String> done = new ArrayList<>();
        if (!Files.exists(file)) {
            return done;
        }
        try {
            JsonNode root = JSON.readTree(file.toFile());
            String netns = root.path("netns").asText("");
            if (netns.isEmpty()) {
                throw new IOException("no netns in it");
            }
            List<String[]> pairs = new ArrayList<>();
            for (JsonNode e : root.path("endpoints")) {
                String veth = e.path("veth").asText("");
                String tap = e.path("tap").asText("");
                if (veth.isEmpty() || !OUR_TAP.matcher(tap).matches()) {
                    throw new IOException("endpoint entry is not a veth and one of our taps: " + e);
                }
                pairs.add(new String[] {veth, tap});
            }
            done.addAll(tearDown(new NetnsCommands(Path.of(netns)), pairs));
            Files.deleteIfExists(file);
        } catch (IOException e) {
            done.add("cannot clean the pod network recorded in " + file + ": " + e.getMessage());
        }
        return done;
    }
}
