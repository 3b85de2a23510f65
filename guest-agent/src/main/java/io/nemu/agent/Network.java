package io.nemu.agent;

import io.nemu.agent.sys.Spawner;
import io.nemu.proto.kata.ARPNeighbor;
import io.nemu.proto.kata.ARPNeighbors;
import io.nemu.proto.kata.IPAddress;
import io.nemu.proto.kata.IPFamily;
import io.nemu.proto.kata.Interface;
import io.nemu.proto.kata.Interfaces;
import io.nemu.proto.kata.Route;
import io.nemu.proto.kata.Routes;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Guest interfaces, routes and neighbours through the {@code ip} command (busybox in the guest;
 * its output is parsed in the subset that busybox and iproute2 share).
 */
final class Network {

    private static final Map<String, Integer> FLAGS = Map.of("UP", 0x1, "BROADCAST", 0x2, "LOOPBACK", 0x8,
            "POINTOPOINT", 0x10, "RUNNING", 0x40, "NOARP", 0x80, "PROMISC", 0x100, "MULTICAST", 0x1000,
            "LOWER_UP", 0x10000);
    private static final Map<String, Integer> SCOPES = Map.of("global", 0, "universe", 0, "site", 200,
            "link", 253, "host", 254, "nowhere", 255);

    private final List<String> ip;

    Network(List<String> ipCommand) {
        this.ip = ipCommand;
    }

    private String ip(String... args) {
        List<String> cmd = new ArrayList<>(ip);
        cmd.addAll(List.of(args));
        Spawner.Result r;
        try {
            r = Spawner.get().run(cmd, 30);
        } catch (IOException e) {
            throw AgentException.internal("ip " + String.join(" ", args) + ": " + e.getMessage(), e);
        }
        if (!r.ok()) {
            throw AgentException.internal("ip " + String.join(" ", args) + ": " + r.stderr().trim(), null);
        }
        return r.stdout();
    }

    Interfaces listInterfaces() {
        Map<String, Interface.Builder> byName = new LinkedHashMap<>();
        for (String line : ip("-o", "link", "show").split("\n")) {
            // "3: d0@d1: <BROADCAST,UP> mtu 1500 qdisc ... \    link/ether 7a:49:.. brd ..."
            String[] f = line.trim().split("\\s+");
            if (f.length < 3 || !f[0].endsWith(":")) {
                continue;
            }
            String name = f[1].replaceAll(":$", "");
            int at = name.indexOf('@');
            if (at > 0) {
                name = name.substring(0, at);
            }
            Interface.Builder b = Interface.newBuilder().setName(name).setDevice(name);
            int flags = 0;
            for (String w : f[2].replaceAll("[<>]", "").split(",")) {
                flags |= FLAGS.getOrDefault(w, 0);
            }
            b.setRawFlags(flags);
            for (int i = 3; i + 1 < f.length; i++) {
                if (f[i].equals("mtu")) {
                    b.setMtu(Long.parseLong(f[i + 1]));
                } else if (f[i].startsWith("link/") && !f[i].equals("link/none")) {
                    b.setHwAddr(f[i + 1]);
                }
            }
            byName.put(name, b);
        }
        for (String line : ip("-o", "addr", "show").split("\n")) {
            // "3: d0    inet 10.9.0.2/24 brd ... scope global d0\ ..."
            String[] f = line.trim().split("\\s+");
            if (f.length < 4 || !(f[2].equals("inet") || f[2].equals("inet6"))) {
                continue;
            }
            Interface.Builder b = byName.get(f[1].replaceAll(":$", ""));
            String[] cidr = f[3].split("/");
            if (b == null || cidr.length != 2) {
                continue;
            }
            b.addIPAddresses(IPAddress.newBuilder().setFamily(f[2].equals("inet") ? IPFamily.v4 : IPFamily.v6)
                    .setAddress(cidr[0]).setMask(cidr[1]));
        }
        Interfaces.Builder out = Interfaces.newBuilder();
        byName.values().forEach(b -> out.addInterfaces(b.build()));
        return out.build();
    }

    Interface updateInterface(Interface want) {
        if (want.getName().isEmpty() && want.getHwAddr().isEmpty()) {
            throw AgentException.invalid("interface has neither name nor hwAddr");
        }
        Interface have = find(want);
        String dev = have.getName();
        if (!want.getName().isEmpty() && !want.getName().equals(dev)) {
            ip("link", "set", "dev", dev, "down");
            ip("link", "set", "dev", dev, "name", want.getName());
            dev = want.getName();
        }
        // Found by name with another MAC (a template's clone): the pod's MAC, or its frames would not reach us.
        if (!want.getHwAddr().isEmpty() && !want.getHwAddr().equalsIgnoreCase(have.getHwAddr())) {
            ip("link", "set", "dev", dev, "address", want.getHwAddr().toLowerCase(Locale.ROOT));
        }
        if (want.getMtu() > 0) {
            ip("link", "set", "dev", dev, "mtu", Long.toString(want.getMtu()));
        }
        ip("addr", "flush", "dev", dev);
        for (IPAddress a : want.getIPAddressesList()) {
            if (a.getAddress().isEmpty()) {
                throw AgentException.invalid("interface " + dev + ": an IP address is empty");
            }
            String cidr = a.getMask().isEmpty() ? a.getAddress() : a.getAddress() + "/" + a.getMask();
            if (a.getFamily() == IPFamily.v6 || a.getAddress().contains(":")) {
                ip("-6", "addr", "add", cidr, "dev", dev);
            } else {
                ip("addr", "add", cidr, "dev", dev);
            }
        }
        ip("link", "set", "dev", dev, "up");
        Interface.Builder now = find(Interface.newBuilder().setName(dev).build()).toBuilder();
        return now.setDevicePath(want.getDevicePath()).setType(want.getType()).build();
    }

    private Interface find(Interface want) {
        List<Interface> all = listInterfaces().getInterfacesList();
        if (!want.getHwAddr().isEmpty()) {
            for (Interface i : all) {
                if (i.getHwAddr().equalsIgnoreCase(want.getHwAddr())) {
                    return i;
                }
            }
        }
        for (Interface i : all) {
            if (i.getName().equals(want.getName())) {
                return i;
            }
        }
        throw AgentException.notFound("no interface with hwAddr '" + want.getHwAddr() + "' or name '"
                + want.getName() + "'");
    }

    Routes listRoutes() {
        Routes.Builder out = Routes.newBuilder();
        parseRoutes(ip("route", "show"), IPFamily.v4, out);
        parseRoutes(ip("-6", "route", "show"), IPFamily.v6, out);
        return out.build();
    }

    private static void parseRoutes(String text, IPFamily family, Routes.Builder out) {
        for (String line : text.split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 0 || f[0].isEmpty()
                    || List.of("multicast", "broadcast", "local", "unreachable", "anycast").contains(f[0])) {
                continue;
            }
            Route.Builder r = Route.newBuilder().setFamily(family).setDest(f[0].equals("default") ? "" : f[0]);
            for (int i = 1; i + 1 < f.length; i++) {
                switch (f[i]) {
                    case "via" -> r.setGateway(f[++i]);
                    case "dev" -> r.setDevice(f[++i]);
                    case "src" -> r.setSource(f[++i]);
                    case "scope" -> r.setScope(SCOPES.getOrDefault(f[++i], 0));
                    case "mtu" -> r.setMtu(Integer.parseInt(f[++i]));
                    default -> { }
                }
            }
            out.addRoutes(r);
        }
    }

    Routes updateRoutes(Routes want) {
        List<Route> link = new ArrayList<>();
        List<Route> via = new ArrayList<>();
        java.util.Set<String> devices = new java.util.LinkedHashSet<>();
        for (Route r : want.getRoutesList()) {
            if (r.getDevice().isEmpty()) {
                throw AgentException.invalid("route to '" + r.getDest() + "' names no device");
            }
            devices.add(r.getDevice());
            (r.getGateway().isEmpty() ? link : via).add(r);
        }
        // The requested table replaces what the devices had, as Kata does.
        for (String d : devices) {
            ip("route", "flush", "dev", d);
            try {
                ip("-6", "route", "flush", "dev", d);
            } catch (AgentException e) {
                // no IPv6 in this guest
            }
        }
        for (Route r : link) {
            addRoute(r);
        }
        for (Route r : via) {
            addRoute(r);
        }
        return listRoutes();
    }

    private void addRoute(Route r) {
        List<String> args = new ArrayList<>();
        boolean v6 = r.getFamily() == IPFamily.v6 || r.getDest().contains(":") || r.getGateway().contains(":");
        if (v6) {
            args.add("-6");
        }
        args.addAll(List.of("route", "replace", r.getDest().isEmpty() ? "default" : r.getDest()));
        if (!r.getGateway().isEmpty()) {
            args.addAll(List.of("via", r.getGateway()));
        }
        args.addAll(List.of("dev", r.getDevice()));
        if (!r.getSource().isEmpty()) {
            args.addAll(List.of("src", r.getSource()));
        }
        if (r.getScope() != 0 && r.getGateway().isEmpty()) {
            String scope = SCOPES.entrySet().stream().filter(e -> e.getValue() == r.getScope())
                    .map(Map.Entry::getKey).findFirst().orElse(Integer.toString(r.getScope()));
            args.addAll(List.of("scope", scope));
        }
        if (r.getMtu() > 0) {
            args.addAll(List.of("mtu", Integer.toString(r.getMtu())));
        }
        ip(args.toArray(new String[0]));
    }

    void addNeighbors(ARPNeighbors neighbors) {
        for (ARPNeighbor n : neighbors.getARPNeighborsList()) {
            String addr = n.getToIPAddress().getAddress();
            if (addr.isEmpty() || n.getDevice().isEmpty() || n.getLladdr().isEmpty()) {
                throw AgentException.invalid("ARP neighbor needs an address, a device and lladdr: " + n);
            }
            String mac = n.getLladdr().toLowerCase(Locale.ROOT);
            try {
                ip("neigh", "replace", addr, "lladdr", mac, "dev", n.getDevice(), "nud", "permanent");
            } catch (AgentException e) {
                // busybox ip has no "neigh replace": its arp applet sets a permanent entry
                arp(n.getDevice(), addr, mac, e);
            }
        }
    }

    private void arp(String dev, String addr, String mac, AgentException first) {
        // the arp applet sits beside ip: same prefix (nsenter, busybox, a directory), "arp" for "ip"
        List<String> cmd = new ArrayList<>(ip);
        String last = cmd.remove(cmd.size() - 1);
        if (!last.endsWith("ip")) {
            throw first;
        }
        cmd.add(last.substring(0, last.length() - 2) + "arp");
        cmd.addAll(List.of("-i", dev, "-s", addr, mac));
        try {
            Spawner.Result r = Spawner.get().run(cmd, 30);
            if (!r.ok()) {
                throw AgentException.internal("neighbour " + addr + " on " + dev + ": " + first.getMessage()
                        + "; arp: " + r.stderr().trim(), null);
            }
        } catch (IOException e) {
            throw AgentException.internal("arp: " + e.getMessage(), e);
        }
    }
}
