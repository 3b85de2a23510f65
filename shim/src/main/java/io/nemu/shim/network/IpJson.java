package io.nemu.shim.network;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Reads iproute2's JSON output ({@code ip -j addr/route/neigh}) into endpoints, routes and neighbours. */
final class IpJson {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** rtnetlink scopes by the names ip prints. */
    static final Map<String, Integer> SCOPES = Map.of("global", 0, "universe", 0, "site", 200, "link", 253,
            "host", 254, "nowhere", 255);

    private IpJson() {
    }

    /** One interface of {@code ip -j addr show}, before a tap is assigned. */
    record Link(String name, String linkType, String mac, int mtu, List<Endpoint.IpAddress> addresses) {
    }

    private static JsonNode array(String json, String what) throws IOException {
        JsonNode n = JSON.readTree(json.isBlank() ? "[]" : json);
        if (!n.isArray()) {
            throw new IOException(what + ": expected a JSON array from iproute2, got " + n.getNodeType());
        }
        return n;
    }

    static List<Link> links(String addrJson) throws IOException {
        List<Link> out = new ArrayList<>();
        for (JsonNode l : array(addrJson, "ip -j addr show")) {
            String name = l.path("ifname").asText("");
            if (name.isEmpty()) {
                throw new IOException("ip -j addr show: an interface without ifname: " + l);
            }
            List<Endpoint.IpAddress> addrs = new ArrayList<>();
            for (JsonNode a : l.path("addr_info")) {
                String fam = a.path("family").asText();
                if (!fam.equals("inet") && !fam.equals("inet6")) {
                    continue;
                }
                addrs.add(new Endpoint.IpAddress(fam.equals("inet6"), a.path("local").asText(),
                        a.path("prefixlen").asInt(fam.equals("inet6") ? 128 : 32)));
            }
            out.add(new Link(name, l.path("link_type").asText(""), l.path("address").asText("").toLowerCase(Locale.ROOT),
                    l.path("mtu").asInt(1500), addrs));
        }
        return out;
    }

    /** Unicast routes of the main table that leave through one of {@code devices}. */
    static List<Endpoint.Route> routes(String routeJson, boolean v6, java.util.Set<String> devices) throws IOException {
        List<Endpoint.Route> out = new ArrayList<>();
        for (JsonNode r : array(routeJson, "ip -j route show")) {
            String type = r.path("type").asText("unicast");
            String dev = r.path("dev").asText("");
            if (!type.equals("unicast") || !devices.contains(dev)) {
                continue;
            }
            String dst = r.path("dst").asText("");
            out.add(new Endpoint.Route(v6, dst.equals("default") ? "" : dst, r.path("gateway").asText(""), dev,
                    r.path("prefsrc").asText(""), SCOPES.getOrDefault(r.path("scope").asText("global"), 0)));
        }
        return out;
    }

    /** Permanent neighbour entries with a link-layer address on one of {@code devices} (what Kata passes). */
    static List<Endpoint.Neighbor> permanentNeighbors(String neighJson, java.util.Set<String> devices)
            throws IOException {
        List<Endpoint.Neighbor> out = new ArrayList<>();
        for (JsonNode n : array(neighJson, "ip -j neigh show")) {
            boolean permanent = false;
            for (JsonNode s : n.path("state")) {
                permanent |= s.asText().equals("PERMANENT");
            }
            String dev = n.path("dev").asText("");
            String lladdr = n.path("lladdr").asText("");
            if (!permanent || lladdr.isEmpty() || !devices.contains(dev)) {
                continue;
            }
            String dst = n.path("dst").asText();
            out.add(new Endpoint.Neighbor(dst.contains(":"), dst, lladdr.toLowerCase(Locale.ROOT), dev));
        }
        return out;
    }

    /** Devices that carry an ingress qdisc, from {@code tc -j qdisc show}. */
    static List<String> ingressDevices(String qdiscJson) throws IOException {
        List<String> out = new ArrayList<>();
        for (JsonNode q : array(qdiscJson, "tc -j qdisc show")) {
            if (q.path("kind").asText().equals("ingress")) {
                out.add(q.path("dev").asText());
            }
        }
        return out;
    }
}
