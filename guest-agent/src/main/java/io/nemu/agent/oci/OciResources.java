package io.nemu.agent.oci;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.agent.AgentException;
import io.nemu.proto.kata.LinuxBlockIO;
import io.nemu.proto.kata.LinuxCPU;
import io.nemu.proto.kata.LinuxDeviceCgroup;
import io.nemu.proto.kata.LinuxHugepageLimit;
import io.nemu.proto.kata.LinuxMemory;
import io.nemu.proto.kata.LinuxResources;
import io.nemu.proto.kata.LinuxThrottleDevice;
import io.nemu.proto.kata.LinuxWeightDevice;
import java.util.List;

/** Kata {@code LinuxResources} as the OCI resources JSON: the spec's and {@code crun update --resources}. */
public final class OciResources {
    private OciResources() {}

    public static ObjectNode resources(LinuxResources r) {
        ObjectNode j = OciJson.JSON.objectNode();
        if (r.getDevicesCount() > 0) {
            ArrayNode d = j.putArray("devices");
            for (LinuxDeviceCgroup dc : r.getDevicesList()) {
                ObjectNode o = d.addObject().put("allow", dc.getAllow());
                if (!dc.getType().isEmpty()) {
                    o.put("type", dc.getType());
                }
                if (dc.getMajor() >= 0 && !(dc.getMajor() == 0 && dc.getMinor() == 0 && dc.getType().isEmpty())) {
                    o.put("major", dc.getMajor());
                }
                if (dc.getMinor() >= 0 && o.has("major")) {
                    o.put("minor", dc.getMinor());
                }
                if (!dc.getAccess().isEmpty()) {
                    o.put("access", dc.getAccess());
                }
            }
        }
        if (r.hasMemory()) {
            LinuxMemory m = r.getMemory();
            ObjectNode o = OciJson.JSON.objectNode();
            OciJson.putNonZero(o, "limit", m.getLimit());
            OciJson.putNonZero(o, "reservation", m.getReservation());
            OciJson.putNonZero(o, "swap", m.getSwap());
            OciJson.putNonZero(o, "kernel", m.getKernel());
            OciJson.putNonZero(o, "kernelTCP", m.getKernelTCP());
            OciJson.putNonZero(o, "swappiness", m.getSwappiness());
            if (m.getDisableOOMKiller()) {
                o.put("disableOOMKiller", true);
            }
            if (m.getLimit() < -1) {
                throw AgentException.invalid("Resources.Memory.Limit " + m.getLimit() + " is negative");
            }
            j.set("memory", o);
        }
        if (r.hasCPU()) {
            LinuxCPU c = r.getCPU();
            ObjectNode o = OciJson.JSON.objectNode();
            OciJson.putNonZero(o, "shares", c.getShares());
            OciJson.putNonZero(o, "quota", c.getQuota());
            OciJson.putNonZero(o, "period", c.getPeriod());
            OciJson.putNonZero(o, "realtimeRuntime", c.getRealtimeRuntime());
            OciJson.putNonZero(o, "realtimePeriod", c.getRealtimePeriod());
            if (!c.getCpus().isEmpty()) {
                o.put("cpus", c.getCpus());
            }
            if (!c.getMems().isEmpty()) {
                o.put("mems", c.getMems());
            }
            j.set("cpu", o);
        }
        if (r.hasPids() && r.getPids().getLimit() != 0) {
            j.putObject("pids").put("limit", r.getPids().getLimit());
        }
        if (r.hasBlockIO()) {
            LinuxBlockIO b = r.getBlockIO();
            ObjectNode o = OciJson.JSON.objectNode();
            OciJson.putNonZero(o, "weight", b.getWeight());
            OciJson.putNonZero(o, "leafWeight", b.getLeafWeight());
            if (b.getWeightDeviceCount() > 0) {
                ArrayNode a = o.putArray("weightDevice");
                for (LinuxWeightDevice w : b.getWeightDeviceList()) {
                    ObjectNode e = a.addObject().put("major", w.getMajor()).put("minor", w.getMinor());
                    OciJson.putNonZero(e, "weight", w.getWeight());
                    OciJson.putNonZero(e, "leafWeight", w.getLeafWeight());
                }
            }
            throttle(o, "throttleReadBpsDevice", b.getThrottleReadBpsDeviceList());
            throttle(o, "throttleWriteBpsDevice", b.getThrottleWriteBpsDeviceList());
            throttle(o, "throttleReadIOPSDevice", b.getThrottleReadIOPSDeviceList());
            throttle(o, "throttleWriteIOPSDevice", b.getThrottleWriteIOPSDeviceList());
            j.set("blockIO", o);
        }
        if (r.getHugepageLimitsCount() > 0) {
            ArrayNode a = j.putArray("hugepageLimits");
            for (LinuxHugepageLimit h : r.getHugepageLimitsList()) {
                a.addObject().put("pageSize", h.getPagesize()).put("limit", OciJson.unsigned(h.getLimit()));
            }
        }
        if (r.hasNetwork()) {
            ObjectNode o = j.putObject("network");
            OciJson.putNonZero(o, "classID", r.getNetwork().getClassID());
            if (r.getNetwork().getPrioritiesCount() > 0) {
                ArrayNode a = o.putArray("priorities");
                r.getNetwork().getPrioritiesList().forEach(p -> a.addObject().put("name", p.getName())
                        .put("priority", p.getPriority()));
            }
        }
        return j;
    }

    private static void throttle(ObjectNode o, String name, List<LinuxThrottleDevice> list) {
        if (!list.isEmpty()) {
            ArrayNode a = o.putArray(name);
            list.forEach(t -> a.addObject().put("major", t.getMajor()).put("minor", t.getMinor())
                    .put("rate", OciJson.unsigned(t.getRate())));
        }
    }
}
