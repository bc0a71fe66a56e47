"""openstack client plugin for vpmu (https://github.com/…/vpmu): vPMU commands."""
