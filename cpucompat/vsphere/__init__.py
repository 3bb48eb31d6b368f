"""vSphere: ESXi hosts and VMs read from vCenter (pyVmomi) or from a ``govc object.save`` folder.

``collect`` (live, one paged PropertyCollector retrieval over a ContainerView) and ``saved``
(offline) both produce the same plain inventory (``Inventory``: objects as dicts of property
paths); ``records`` turns it into one host fingerprint per ESXi host and one record per VM, and
reads those records back as cpucompat ``Dump``s; ``vmotion`` judges the seed's vMotion
conditions; ``evc_vmx`` writes per-VM EVC.
"""
